//! Saver: round trips, mismatch reports, resuming training, atomic writes.

mod common;

use common::variable_bits as snapshot;
use ndarray::arr1;
use staticflow::prelude::*;
use std::path::PathBuf;

/// A fresh, empty directory for one test.
fn test_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("staticflow-saver-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Two tasks over a shared variable, Adam on each with a decayed learning rate and a global
/// step; returns the grouped train op.
fn build(g: &Graph) -> Operation<'_> {
    let ws = g.variable("shared/w", init::glorot_uniform(&[3, 2]));
    let w1 = g.variable("task1/w", init::glorot_uniform(&[2, 1]));
    let w2 = g.variable("task2/w", init::glorot_uniform(&[2, 1]));
    let x = g.constant(ndarray::array![[1.0f32, 2.0, -1.0], [0.5, -0.5, 0.25]]);
    let h = tanh(matmul(x, ws));
    let loss1 = l2_loss(matmul(h, w1) - 1.0);
    let loss2 = l2_loss(matmul(h, w2) + 0.5);
    let step = get_or_create_global_step(g).unwrap();
    let lr = exponential_decay(0.05, step, 2, 0.9, false);
    let op1 = Adam::new(lr)
        .with_global_step(step)
        .minimize(loss1)
        .unwrap();
    let op2 = Momentum::new(0.1, 0.9).minimize(loss2).unwrap();
    group(g, &[op1, op2])
}

fn train_steps<'g>(sess: &mut Session<'g>, op: Operation<'g>, n: usize) {
    for _ in 0..n {
        sess.run(&[op.into()], &[]).unwrap();
    }
}

#[test]
fn round_trip_is_bit_identical_including_slots() {
    let dir = test_dir("round_trip");
    let path = dir.join("model.safetensors");
    let g = Graph::with_seed(3);
    let train = build(&g);
    let names: Vec<String> = g.global_variables().iter().map(|v| v.name()).collect();
    for want in [
        "Adam/shared/w/m",
        "Adam/beta1_power",
        "Momentum/task2/w/momentum",
        "global_step",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} not in {names:?}");
    }
    let mut sess = Session::new(&g);
    sess.run(&[g.global_variables_initializer().into()], &[])
        .unwrap();
    train_steps(&mut sess, train, 3);
    let saver = Saver::new(&g);
    saver.save(&sess, &path).unwrap();
    let before = snapshot(&g, &sess);

    let mut fresh = Session::new(&g);
    saver.restore(&mut fresh, &path).unwrap();
    assert_eq!(snapshot(&g, &fresh), before);
    // The file holds exactly one entry per variable.
    let bytes = std::fs::read(&path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(st.names().len(), names.len());
    assert!(temp_files(&dir).is_empty());
}

#[test]
fn restore_then_more_steps_equals_uninterrupted_training() {
    let (m, n) = (3, 4);
    let dir = test_dir("resume");
    let path = dir.join("ckpt.safetensors");

    let g_ref = Graph::with_seed(11);
    let train_ref = build(&g_ref);
    let mut s_ref = Session::new(&g_ref);
    s_ref
        .run(&[g_ref.global_variables_initializer().into()], &[])
        .unwrap();
    train_steps(&mut s_ref, train_ref, m + n);

    let g1 = Graph::with_seed(11);
    let train1 = build(&g1);
    let mut s1 = Session::new(&g1);
    s1.run(&[g1.global_variables_initializer().into()], &[])
        .unwrap();
    train_steps(&mut s1, train1, m);
    Saver::new(&g1).save(&s1, &path).unwrap();
    drop(s1);

    // A new graph built by the same code, a new session, no initializer: restore only.
    let g2 = Graph::with_seed(99);
    let train2 = build(&g2);
    let mut s2 = Session::new(&g2);
    Saver::new(&g2).restore(&mut s2, &path).unwrap();
    train_steps(&mut s2, train2, n);
    assert_eq!(snapshot(&g2, &s2), snapshot(&g_ref, &s_ref));
    let step = g2.tensor_by_name("global_step").unwrap();
    let s = s2.variable_value(step).unwrap().as_i64().unwrap();
    assert_eq!(s.iter().next(), Some(&((m + n) as i64)));
}

#[test]
fn mismatch_lists_every_problem_and_changes_nothing() {
    let dir = test_dir("mismatch");
    let path = dir.join("a.safetensors");
    let ga = Graph::new();
    ga.variable("a", init::constant(&[2], 1.0));
    ga.variable("b", init::constant(&[3], 2.0));
    ga.non_trainable_variable("s", init::zeros(&[]).with_dtype(DType::I64));
    ga.variable("d", init::constant(&[1], 4.0));
    let mut sa = Session::new(&ga);
    sa.run(&[ga.global_variables_initializer().into()], &[])
        .unwrap();
    Saver::new(&ga).save(&sa, &path).unwrap();

    let gb = Graph::new();
    gb.variable("a", init::constant(&[2], -1.0)); // matches: must still not be restored
    gb.variable("b", init::constant(&[4], -2.0)); // wrong shape
    gb.variable("s", init::constant(&[], -3.0)); // wrong dtype (f32 vs i64)
    gb.variable("c", init::constant(&[2], -5.0)); // missing from the file
    let mut sb = Session::new(&gb);
    sb.run(&[gb.global_variables_initializer().into()], &[])
        .unwrap();
    let before = snapshot(&gb, &sb);
    let err = Saver::new(&gb).restore(&mut sb, &path).unwrap_err();
    let Error::Mismatch {
        path: p,
        mismatches,
    } = &err
    else {
        panic!("expected a mismatch, got {err:?}")
    };
    assert_eq!(p, &path);
    assert_eq!(mismatches.len(), 4, "{mismatches:#?}");
    let has = |needle: &str, what: &str| {
        assert!(
            mismatches
                .iter()
                .any(|m| m.contains(needle) && m.contains(what)),
            "no `{needle}` {what} in {mismatches:#?}"
        )
    };
    has("`b`", "[3]");
    has("`s`", "i64");
    has("`c`", "missing");
    has("`d`", "unexpected");
    let msg = err.to_string();
    assert!(msg.contains("a.safetensors"), "{msg}");
    assert_eq!(snapshot(&gb, &sb), before, "nothing restored");

    // A subset saver may ignore the file's other entries.
    let a = gb.tensor_by_name("a").unwrap();
    let subset = Saver::for_variables(&gb, &[a]);
    let err = subset.restore(&mut sb, &path).unwrap_err();
    assert!(matches!(err, Error::Mismatch { ref mismatches, .. } if mismatches.len() == 3));
    subset
        .allow_extra_entries(true)
        .restore(&mut sb, &path)
        .unwrap();
    let va = sb.variable_value(a).unwrap().as_f32().unwrap();
    assert_eq!(va.as_slice().unwrap(), &[1.0, 1.0]);
}

#[test]
fn failed_save_keeps_previous_checkpoint() {
    let dir = test_dir("atomic");
    let path = dir.join("model.safetensors");
    let g = Graph::new();
    let w = g.variable("w", init::from_array(&arr1(&[1.0f32, 2.0]).into_dyn()));
    let mut sess = Session::new(&g);
    sess.run(&[g.global_variables_initializer().into()], &[])
        .unwrap();
    let saver = Saver::new(&g);
    saver.save(&sess, &path).unwrap();
    let good = std::fs::read(&path).unwrap();

    sess.set_variable(w, arr1(&[7.0f32, 8.0]).into()).unwrap();
    // Simulated failure: the destination's directory is gone, as when it is unmounted.
    let err = saver
        .save(&sess, dir.join("gone").join("model.safetensors"))
        .unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("model.safetensors"), "{err}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        good,
        "previous checkpoint intact"
    );

    // A failed rename (destination is a directory) leaves no temporary file behind.
    let as_dir = dir.join("taken");
    std::fs::create_dir(&as_dir).unwrap();
    std::fs::write(as_dir.join("keep"), b"x").unwrap();
    assert!(saver.save(&sess, &as_dir).is_err());
    assert!(temp_files(&dir).is_empty(), "{:?}", temp_files(&dir));

    // The intact checkpoint still restores the old values; a new save replaces it.
    saver.restore(&mut sess, &path).unwrap();
    let v = sess.variable_value(w).unwrap().as_f32().unwrap();
    assert_eq!(v.as_slice().unwrap(), &[1.0, 2.0]);
    sess.set_variable(w, arr1(&[7.0f32, 8.0]).into()).unwrap();
    saver.save(&sess, &path).unwrap();
    assert_ne!(std::fs::read(&path).unwrap(), good);
}

#[test]
fn save_and_restore_errors_name_the_culprit() {
    let dir = test_dir("errors");
    let g = Graph::new();
    g.variable("w", init::ones(&[2]));
    let sess = Session::new(&g);
    let err = Saver::new(&g)
        .save(&sess, dir.join("x.safetensors"))
        .unwrap_err();
    assert!(matches!(err, Error::UninitializedVariable { ref variable } if variable == "w"));
    assert!(!dir.join("x.safetensors").exists());

    let junk = dir.join("junk.safetensors");
    std::fs::write(&junk, b"not a checkpoint").unwrap();
    let mut sess = Session::new(&g);
    let err = Saver::new(&g).restore(&mut sess, &junk).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("junk.safetensors"));
    let err = Saver::new(&g)
        .restore(&mut sess, dir.join("absent.safetensors"))
        .unwrap_err();
    assert!(err.to_string().contains("absent.safetensors"), "{err}");
}

/// Temporary files (`.*.tmp`) left in `dir`.
fn temp_files(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.') && n.ends_with(".tmp"))
        .collect()
}

/// Bool variables (masks, flags) are saved as safetensors `BOOL` and restored exactly; a
/// graph that declares the name with another dtype is told the dtypes differ.
#[test]
fn bool_variables_round_trip() {
    let dir = test_dir("bool");
    let path = dir.join("flags.safetensors");
    let g = Graph::new();
    let mask = g.variable("mask", init::zeros(&[2, 3]).with_dtype(DType::Bool));
    let on = g.variable("on", init::ones(&[]).with_dtype(DType::Bool));
    let value = ndarray::array![[true, false, true], [false, false, true]];
    let set = assign(mask, g.constant(value.clone()));
    let mut sess = Session::new(&g);
    sess.run(&[g.global_variables_initializer().into()], &[])
        .unwrap();
    let out = sess.run(&[mask.into(), on.into()], &[]).unwrap();
    assert!(out.bool(0).unwrap().iter().all(|&b| !b), "zeros are false");
    assert_eq!(
        out.bool(1).unwrap().iter().copied().collect::<Vec<_>>(),
        [true]
    );
    sess.run(&[set.into()], &[]).unwrap();
    Saver::new(&g).save(&sess, &path).unwrap();
    let mut fresh = Session::new(&g);
    fresh
        .run(&[g.global_variables_initializer().into()], &[])
        .unwrap();
    Saver::new(&g).restore(&mut fresh, &path).unwrap();
    assert_eq!(snapshot(&g, &fresh), snapshot(&g, &sess));
    let out = fresh.run(&[mask.into()], &[]).unwrap();
    assert_eq!(out.bool(0).unwrap(), &value.into_dyn());
    // The same names as f32 variables: a dtype mismatch, nothing restored.
    let g2 = Graph::new();
    let _mask = g2.variable("mask", init::zeros(&[2, 3]));
    let _on = g2.variable("on", init::ones(&[]).with_dtype(DType::Bool));
    let mut s2 = Session::new(&g2);
    s2.run(&[g2.global_variables_initializer().into()], &[])
        .unwrap();
    let err = Saver::new(&g2)
        .restore(&mut s2, &path)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("mask") && err.contains("bool") && err.contains("f32"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
