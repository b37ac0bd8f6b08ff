//! Adadelta and FTRL against TF1's own numbers (issue 11, item 6).
//!
//! `tests/fixtures/tf1_optimizers.json` was written by `scripts/tf1_optimizer_fixtures.py`
//! with TF1's `AdadeltaOptimizer` and `FtrlOptimizer` (`tf.compat.v1`, graph mode, CPU,
//! float32): five `minimize` steps on `0.5 * sum(a * (w - t)²)`, `w` after each step, and
//! both slots after the last. Each case here does the same with staticflow's optimizer,
//! finds the slots with `get_slot`, and compares within 1e-6 absolute or 1e-5 relative;
//! the worst errors are printed (`cargo test --release --test tf1_optimizers -- --nocapture`).

mod tf1_fixture;

use serde_json::Value as Json;
use staticflow::prelude::*;
use tf1_fixture::{compare, f32_array, Worst};

fn fixture() -> Json {
    serde_json::from_str(include_str!("fixtures/tf1_optimizers.json")).expect("fixture parses")
}

fn hp(case: &Json, key: &str) -> Option<f32> {
    case["hyper_parameters"][key].as_f64().map(|v| v as f32)
}

/// The staticflow optimizer of a case and the names of its two slots.
fn optimizer(case: &Json) -> Box<dyn Optimizer> {
    let lr = hp(case, "learning_rate").unwrap();
    match case["optimizer"].as_str().unwrap() {
        "adadelta" => Box::new(
            Adadelta::new(lr)
                .rho(hp(case, "rho").unwrap())
                .epsilon(hp(case, "epsilon").unwrap()),
        ),
        "ftrl" => Box::new(
            Ftrl::new(lr)
                .learning_rate_power(hp(case, "learning_rate_power").unwrap_or(-0.5))
                .initial_accumulator_value(hp(case, "initial_accumulator_value").unwrap_or(0.1))
                .l1_regularization_strength(hp(case, "l1_regularization_strength").unwrap_or(0.0))
                .l2_regularization_strength(hp(case, "l2_regularization_strength").unwrap_or(0.0))
                .l2_shrinkage_regularization_strength(
                    hp(case, "l2_shrinkage_regularization_strength").unwrap_or(0.0),
                ),
        ),
        other => panic!("unknown optimizer {other}"),
    }
}

#[test]
fn adadelta_and_ftrl_match_tf1() {
    let doc = fixture();
    let cases = doc["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 7);
    println!(
        "optimizer | hyper-parameters | max abs error | max rel error (w over 5 steps, both slots)"
    );
    for case in cases {
        let name = format!(
            "{} {}",
            case["optimizer"].as_str().unwrap(),
            case["hyper_parameters"]
        );
        let g = Graph::new();
        let w = g.variable("w", init::from_array(&f32_array(&case["w0"])));
        let a = g.constant(f32_array(&case["a"]));
        let t = g.constant(f32_array(&case["t"]));
        let loss = 0.5 * reduce_sum_all(a * square(w - t));
        let opt = optimizer(case);
        let train = opt.minimize(loss).unwrap();
        let want_names: Vec<String> = case["slot_names"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        assert_eq!(opt.get_slot_names(), want_names, "{name}");
        let mut sess = Session::new(&g);
        sess.run(&[g.global_variables_initializer().into()], &[])
            .unwrap();
        let mut worst = Worst::default();
        for (k, want) in case["steps"].as_array().unwrap().iter().enumerate() {
            sess.run(&[train.into()], &[]).unwrap();
            let got = sess.run(&[w.into()], &[]).unwrap().f32(0).unwrap().clone();
            compare(&got, &f32_array(want), &mut worst)
                .unwrap_or_else(|e| panic!("{name} step {}: {e}", k + 1));
        }
        for (slot_name, want) in case["slots"].as_object().unwrap() {
            let slot = opt
                .get_slot(w, slot_name)
                .unwrap_or_else(|| panic!("{name}: no slot {slot_name}"));
            assert_eq!(slot.name(), format!("{}/w/{slot_name}", opt.name()));
            let got = sess
                .run(&[slot.into()], &[])
                .unwrap()
                .f32(0)
                .unwrap()
                .clone();
            compare(&got, &f32_array(want), &mut worst)
                .unwrap_or_else(|e| panic!("{name} slot {slot_name}: {e}"));
        }
        println!("{name}: max abs {:.2e} / rel {:.2e}", worst.abs, worst.rel);
    }
}

/// FTRL with L1 drives coordinates to exactly 0, as TF1 does (the fixture's strong-L1 case
/// has one), and a named optimizer keeps its slots under its name.
#[test]
fn ftrl_l1_zeroes_coordinates_and_names_its_slots() {
    let doc = fixture();
    let case = &doc["cases"][3];
    let last = f32_array(case["steps"].as_array().unwrap().last().unwrap());
    assert!(
        last.iter().any(|&v| v == 0.0),
        "the fixture has an exact zero"
    );
    let g = Graph::new();
    let w = g.variable("w", init::from_array(&f32_array(&case["w0"])));
    let t = g.constant(f32_array(&case["t"]));
    let loss = 0.5 * reduce_sum_all(square(w - t));
    let opt = Ftrl::new(0.5)
        .l1_regularization_strength(0.3)
        .with_name("sparse_ftrl");
    opt.minimize(loss).unwrap();
    assert_eq!(
        opt.get_slot(w, "linear").unwrap().name(),
        "sparse_ftrl/w/linear"
    );
    assert_eq!(
        opt.get_slot(w, "accum").unwrap().name(),
        "sparse_ftrl/w/accum"
    );
    assert!(opt.get_slot(w, "m").is_none());
}

/// TF1's argument checks are typed errors naming the hyper-parameter.
#[test]
fn bad_hyper_parameters_are_errors() {
    let cases: Vec<(Box<dyn Optimizer>, &str)> = vec![
        (
            Box::new(Ftrl::new(0.1).learning_rate_power(0.5)),
            "learning_rate_power",
        ),
        (
            Box::new(Ftrl::new(0.1).initial_accumulator_value(-1.0)),
            "initial_accumulator_value",
        ),
        (
            Box::new(Ftrl::new(0.1).l1_regularization_strength(-0.1)),
            "l1_regularization_strength",
        ),
        (
            Box::new(Ftrl::new(0.1).l2_regularization_strength(f32::NAN)),
            "l2_regularization_strength",
        ),
        (
            Box::new(Ftrl::new(0.1).l2_shrinkage_regularization_strength(-1.0)),
            "l2_shrinkage_regularization_strength",
        ),
        (Box::new(Adadelta::new(1.0).rho(f32::INFINITY)), "rho"),
    ];
    for (opt, what) in cases {
        let g = Graph::new();
        let w = g.variable("w", init::zeros(&[2]));
        let err = opt.minimize(reduce_sum_all(square(w))).unwrap_err();
        assert!(
            matches!(err, staticflow::Error::InvalidArgument(_)) && err.to_string().contains(what),
            "{what}: {err}"
        );
    }
}
