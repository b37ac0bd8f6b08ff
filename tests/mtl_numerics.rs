//! A non-finite per-task gradient: visible in the diagnostics, and with the session's numeric
//! checks on, an error naming the task.

use staticflow::mtl::{self, Strategy};
use staticflow::prelude::*;

/// Task `a`: `|w - 1|²/2`; task `b`: `Σ √(w²)`, finite at `w = 0` but with a NaN gradient
/// there (`0 · ∞`). `w` starts at 0 and is shared.
fn tasks(g: &Graph) -> mtl::Tasks<'_> {
    let w = g.variable("shared/w", init::zeros(&[3]));
    let a = l2_loss(w - 1.0).named("loss_a");
    let b = reduce_sum_all(sqrt(square(w))).named("loss_b");
    mtl::Tasks::new(g).task("a", a).task("b", b)
}

#[test]
fn a_non_finite_task_gradient_is_an_error_naming_the_task_with_numeric_checks_on() {
    for strategy in [
        Box::new(mtl::PcGrad::default()) as Box<dyn Strategy>,
        Box::new(mtl::Mgda::default()),
    ] {
        let g = Graph::with_seed(0);
        let t = tasks(&g);
        let train = strategy.minimize(&GradientDescent::new(0.1), &t).unwrap();
        let d = train.diagnostics.unwrap();
        let mut sess = Session::new(&g);
        sess.run(&[g.global_variables_initializer().into()], &[])
            .unwrap();
        // Checks off: the diagnostics show it (task b's norm), task a's is finite.
        let out = sess.run(&[d.grad_norms.into()], &[]).unwrap();
        let norms = out.f32(0).unwrap();
        assert!(norms[[0]].is_finite() && !norms[[1]].is_finite(), "{norms}");
        // Checks on: the step fails naming task b, and no variable changed.
        sess.set_check_numerics(true);
        let e = sess.run(&[(&train).into()], &[]).unwrap_err();
        assert!(matches!(e, Error::Numerics { .. }), "{e}");
        let msg = e.to_string();
        assert!(
            msg.contains("the gradient of task `b`"),
            "{}: {msg}",
            strategy.name()
        );
        assert!(!msg.contains("task `a`"), "{msg}");
        let w = g.tensor_by_name("shared/w").unwrap();
        assert!(sess
            .variable_value(w)
            .unwrap()
            .as_f32()
            .unwrap()
            .iter()
            .all(|v| *v == 0.0));
    }
}

#[test]
fn a_finite_step_with_numeric_checks_on_runs() {
    let g = Graph::with_seed(0);
    let w = g.variable("shared/w", init::ones(&[3]));
    let a = l2_loss(w - 2.0);
    let b = l2_loss(slice(w, &[0], &[1]));
    let t = mtl::Tasks::new(&g).task("a", a).task("b", b);
    let train = mtl::PcGrad::default()
        .minimize(&GradientDescent::new(0.1), &t)
        .unwrap();
    let mut sess = Session::new(&g);
    sess.set_check_numerics(true);
    sess.run(&[g.global_variables_initializer().into()], &[])
        .unwrap();
    sess.run(&[(&train).into()], &[]).unwrap();
    let v = sess.variable_value(w).unwrap().as_f32().unwrap().clone();
    assert!(v.iter().all(|x| x.is_finite() && *x != 1.0), "{v}");
}
