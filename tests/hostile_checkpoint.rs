//! Hostile tests, class 4 (issue 10) and the checkpoint half of class 6: checkpoints carry a
//! CRC32C per entry, verified before anything changes. Seeded fuzzing of random 1-3 byte
//! corruptions, truncations and header edits: every damaged file is refused (or, when the
//! damage is harmless, restores the exact saved values) and a refused restore leaves every
//! variable of the session bit-identical.

mod common;

use common::variable_bits as snapshot;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use staticflow::prelude::*;
use std::collections::HashMap;
use std::path::PathBuf;

fn test_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "staticflow_hostile_ckpt_{}_{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A graph with f32 and i64 variables of several shapes, trained a little (Adam slots).
fn model(g: &Graph) -> Vec<Tensor<'_>> {
    let x = g.placeholder("x", [None, Some(3)]);
    let w = g.variable("enc/w", init::random_normal(&[3, 4], 0.0, 1.0));
    let b = g.variable("enc/b", init::constant(&[4], 0.5));
    let v = g.variable("head/v", init::random_uniform(&[4, 1], -1.0, 1.0));
    let loss = l2_loss(matmul(relu(matmul(x, w) + b), v));
    let _ = Adam::new(0.01).minimize(loss).unwrap();
    g.global_variables()
}

/// Two sessions on one graph: `saved` (whose values are in the file) and `live`, holding
/// other values, which a failed restore must not touch.
struct Setup {
    path: PathBuf,
    good: Vec<u8>,
}

fn setup(g: &Graph, name: &str) -> Setup {
    let dir = test_dir(name);
    let path = dir.join("model.safetensors");
    let mut s = Session::new(g);
    s.run(&[g.global_variables_initializer().into()], &[])
        .unwrap();
    Saver::new(g).save(&s, &path).unwrap();
    let good = std::fs::read(&path).unwrap();
    Setup { path, good }
}

#[derive(Default, Debug)]
struct Counts {
    trials: usize,
    refused: HashMap<&'static str, usize>,
    harmless: usize,
}

fn kind(e: &Error) -> &'static str {
    match e {
        Error::CorruptCheckpoint { .. } => "CorruptCheckpoint",
        Error::Io { .. } => "Io",
        Error::Mismatch { .. } => "Mismatch",
        _ => "other",
    }
}

/// Restores `bytes` into a session holding other values: either an error with the session
/// unchanged, or success with exactly the saved values.
fn probe<'g>(
    g: &'g Graph,
    live: &mut Session<'g>,
    path: &PathBuf,
    bytes: &[u8],
    saved: &[(String, Vec<u64>)],
    c: &mut Counts,
) {
    std::fs::write(path, bytes).unwrap();
    let before = snapshot(g, live);
    c.trials += 1;
    match Saver::new(g).restore(live, path) {
        Err(e) => {
            assert_ne!(kind(&e), "other", "{e:?}");
            assert!(
                e.to_string().contains("model.safetensors"),
                "names the file: {e}"
            );
            assert_eq!(
                snapshot(g, live),
                before,
                "a refused restore changed the session: {e}"
            );
            *c.refused.entry(kind(&e)).or_default() += 1;
        }
        Ok(()) => {
            assert_eq!(snapshot(g, live), saved, "silently wrong values restored");
            c.harmless += 1;
            // Put the live values back for the next trial.
            for (v, (_, bits)) in g.global_variables().iter().zip(&before) {
                let val = match live.variable_value(*v).unwrap() {
                    Value::F32(a) => Value::F32(
                        ndarray::ArrayD::from_shape_vec(
                            a.raw_dim(),
                            bits.iter().map(|&b| f32::from_bits(b as u32)).collect(),
                        )
                        .unwrap(),
                    ),
                    Value::I64(a) => Value::I64(
                        ndarray::ArrayD::from_shape_vec(
                            a.raw_dim(),
                            bits.iter().map(|&b| b as i64).collect(),
                        )
                        .unwrap(),
                    ),
                    Value::Bool(a) => Value::Bool(
                        ndarray::ArrayD::from_shape_vec(
                            a.raw_dim(),
                            bits.iter().map(|&b| b != 0).collect(),
                        )
                        .unwrap(),
                    ),
                    Value::Bytes(_) => unreachable!("variables hold numbers"),
                };
                live.set_variable(*v, val).unwrap();
            }
        }
    }
}

fn live_session(g: &Graph) -> Session<'_> {
    let mut s = Session::new(g);
    s.run(&[g.global_variables_initializer().into()], &[])
        .unwrap();
    // Other values than the saved ones.
    for v in g.global_variables() {
        let val = match s.variable_value(v).unwrap() {
            Value::F32(a) => Value::F32(a.mapv(|x| x + 100.0)),
            Value::I64(a) => Value::I64(a.mapv(|x| x + 100)),
            Value::Bool(a) => Value::Bool(a.mapv(|x| !x)),
            Value::Bytes(_) => unreachable!("variables hold numbers"),
        };
        s.set_variable(v, val).unwrap();
    }
    s
}

#[test]
fn random_byte_corruption_is_always_caught() {
    let g = Graph::with_seed(3);
    model(&g);
    let Setup { path, good } = setup(&g, "bytes");
    let mut saved_sess = Session::new(&g);
    Saver::new(&g).restore(&mut saved_sess, &path).unwrap();
    let saved = snapshot(&g, &saved_sess);
    let mut live = live_session(&g);
    let mut rng = StdRng::seed_from_u64(10);
    let mut c = Counts::default();
    for _ in 0..600 {
        let mut bytes = good.clone();
        for _ in 0..rng.gen_range(1..=3) {
            let i = rng.gen_range(0..bytes.len());
            bytes[i] ^= rng.gen_range(1..=255u8);
        }
        probe(&g, &mut live, &path, &bytes, &saved, &mut c);
    }
    println!("byte corruption: {c:?}");
    // Corrupting a tensor's data (most of the file) must always be refused.
    let header = 8 + u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    let mut data_hits = 0;
    for i in (header..good.len()).step_by(7) {
        let mut bytes = good.clone();
        bytes[i] ^= 0x01;
        let mut c2 = Counts::default();
        probe(&g, &mut live, &path, &bytes, &saved, &mut c2);
        assert_eq!(c2.harmless, 0, "a flipped data bit at {i} was restored");
        data_hits += 1;
    }
    println!("single-bit data flips refused: {data_hits}");
}

#[test]
fn truncation_and_header_edits_are_refused() {
    let g = Graph::with_seed(4);
    model(&g);
    let Setup { path, good } = setup(&g, "trunc");
    let mut saved_sess = Session::new(&g);
    Saver::new(&g).restore(&mut saved_sess, &path).unwrap();
    let saved = snapshot(&g, &saved_sess);
    let mut live = live_session(&g);
    let mut c = Counts::default();
    for len in (0..good.len()).step_by(5) {
        probe(&g, &mut live, &path, &good[..len], &saved, &mut c);
    }
    assert_eq!(c.harmless, 0);
    // Appended garbage.
    let mut long = good.clone();
    long.extend_from_slice(b"garbage");
    probe(&g, &mut live, &path, &long, &saved, &mut c);
    // Header edits that keep the JSON valid: a checksum digit, a shape swap of the same size.
    let header_len = u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&good[8..8 + header_len]).unwrap();
    let edits: Vec<(String, String)> = vec![
        ("\"crc32c:enc/w\":\"".into(), "\"crc32c:enc/W\":\"".into()),
        (
            "\"checksum\":\"crc32c\"".into(),
            "\"checksum\":\"crc32d\"".into(),
        ),
        ("[3,4]".into(), "[4,3]".into()),
        ("\"F32\"".into(), "\"I32\"".into()),
    ];
    for (from, to) in edits {
        assert!(header.contains(&from), "{from} not in {header}");
        let h = header.replacen(&from, &to, 1);
        assert_eq!(h.len(), header.len());
        let mut bytes = good[..8].to_vec();
        bytes.extend_from_slice(h.as_bytes());
        bytes.extend_from_slice(&good[8 + header_len..]);
        let mut one = Counts::default();
        probe(&g, &mut live, &path, &bytes, &saved, &mut one);
        assert_eq!(one.harmless, 0, "edit {from} -> {to} was restored");
        println!("header edit {from} -> {to}: {:?}", one.refused);
    }
    println!("truncations and header edits: {c:?}");
}

#[test]
fn a_checksum_mismatch_names_the_entry_and_the_file() {
    let g = Graph::with_seed(5);
    model(&g);
    let Setup { path, good } = setup(&g, "names");
    let header = 8 + u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    let mut bytes = good.clone();
    *bytes.last_mut().unwrap() ^= 0x80; // last byte of the last entry
    std::fs::write(&path, &bytes).unwrap();
    let mut s = live_session(&g);
    let err = Saver::new(&g).restore(&mut s, &path).unwrap_err();
    let Error::CorruptCheckpoint {
        tensor, path: p, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(p, &path);
    assert!(!tensor.is_empty());
    let msg = err.to_string();
    assert!(
        msg.contains("CRC32C mismatch") && msg.contains(tensor.as_str()),
        "{msg}"
    );
    assert!(header < bytes.len());
}

#[test]
fn checkpoints_without_checksums_need_an_explicit_opt_in() {
    let g = Graph::with_seed(6);
    let w = g.variable("w", init::constant(&[2], 1.5));
    let dir = test_dir("old");
    let path = dir.join("old.safetensors");
    // A checkpoint as staticflow wrote it before checksums: format metadata only.
    let data: Vec<u8> = [1.5f32, 2.5].iter().flat_map(|x| x.to_le_bytes()).collect();
    let view =
        safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![2], &data).unwrap();
    let meta = HashMap::from([("format".to_string(), "staticflow".to_string())]);
    let bytes = safetensors::tensor::serialize([("w", view)], Some(meta)).unwrap();
    std::fs::write(&path, bytes).unwrap();
    let mut s = Session::new(&g);
    s.run(&[g.global_variables_initializer().into()], &[])
        .unwrap();
    let err = Saver::new(&g).restore(&mut s, &path).unwrap_err();
    assert!(matches!(err, Error::CorruptCheckpoint { .. }), "{err:?}");
    assert!(
        err.to_string().contains("allow_unverified_checkpoints"),
        "{err}"
    );
    assert_eq!(
        s.variable_value(w)
            .unwrap()
            .as_f32()
            .unwrap()
            .as_slice()
            .unwrap(),
        &[1.5, 1.5]
    );
    Saver::new(&g)
        .allow_unverified_checkpoints(true)
        .restore(&mut s, &path)
        .unwrap();
    assert_eq!(
        s.variable_value(w)
            .unwrap()
            .as_f32()
            .unwrap()
            .as_slice()
            .unwrap(),
        &[1.5, 2.5]
    );
    // A file that declares checksums is verified even with the opt-in.
    Saver::new(&g).save(&s, &path).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    *bytes.last_mut().unwrap() ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    assert!(Saver::new(&g)
        .allow_unverified_checkpoints(true)
        .restore(&mut s, &path)
        .is_err());
}
