//! The POS + chunk tagger (`staticflow::models::tagger`, used by `examples/pos_chunk/`):
//! learning on the synthetic corpus, joint vs alternate, task isolation of the train ops,
//! checkpoint round trip and resume, and a short real-data run (golden graph files:
//! `tests/golden_graphs.rs`).
//! Meant for release mode (`cargo test --release --test pos_chunk`).

mod skip;
use staticflow::data::synthetic_corpus_sized;
use staticflow::models::tagger::*;
use staticflow::prelude::*;
use staticflow::train::Saver;
use std::sync::OnceLock;

/// Trains a fresh default model with `regime` for `epochs` and returns the epoch logs.
fn run(data: &TaggerData, regime: Regime, epochs: usize, seed: u64) -> Vec<EpochLog> {
    let g = Graph::with_seed(seed);
    let model = Tagger::build(&g, &TaggerConfig::tutorial(&data.vocab)).unwrap();
    let mut sess = Session::new(&g);
    sess.run(&[g.global_variables_initializer().into()], &[])
        .unwrap();
    train(
        &mut sess,
        &model,
        data,
        &TrainOptions::new(regime, epochs, seed),
        |_| {},
    )
    .unwrap()
}

fn synthetic() -> &'static TaggerData {
    static DATA: OnceLock<TaggerData> = OnceLock::new();
    DATA.get_or_init(TaggerData::synthetic)
}

const EPOCHS: usize = 3;

/// Joint and alternate on the synthetic corpus, same seed and epochs (trained once, shared).
fn joint_and_alternate() -> &'static (Vec<EpochLog>, Vec<EpochLog>) {
    static RUNS: OnceLock<(Vec<EpochLog>, Vec<EpochLog>)> = OnceLock::new();
    RUNS.get_or_init(|| {
        let d = synthetic();
        (
            run(d, Regime::Joint, EPOCHS, 0),
            run(d, Regime::Alternate, EPOCHS, 0),
        )
    })
}

#[test]
fn joint_and_alternate_beat_the_majority_tag_baseline() {
    let (pos_base, chunk_base) = majority_baseline(synthetic());
    let (joint, alt) = joint_and_alternate();
    for (name, logs) in [("joint", joint), ("alternate", alt)] {
        let s = logs.last().unwrap().test.score;
        println!(
            "{name}: POS {:.4} (baseline {pos_base:.4}), chunk {:.4} (baseline {chunk_base:.4}), F1 {:.4}",
            s.pos_acc,
            s.chunk_acc,
            s.chunk.f1()
        );
        assert!(s.pos_acc > pos_base + 0.4, "{name} POS {}", s.pos_acc);
        assert!(
            s.chunk_acc > chunk_base + 0.4,
            "{name} chunk {}",
            s.chunk_acc
        );
        assert!(s.chunk.f1() > 0.6, "{name} F1 {}", s.chunk.f1());
        // training losses fall
        let (first, last) = (logs.first().unwrap(), logs.last().unwrap());
        assert!(last.train_pos_loss < first.train_pos_loss);
        assert!(last.train_chunk_loss < first.train_chunk_loss);
    }
}

#[test]
fn joint_vs_alternate() {
    let (joint, alt) = joint_and_alternate();
    let (j, a) = (joint.last().unwrap().test, alt.last().unwrap().test);
    let (jl, al) = (j.pos_loss + j.chunk_loss, a.pos_loss + a.chunk_loss);
    println!(
        "after {EPOCHS} epochs: joint test loss {jl:.4} (pos {:.4} + chunk {:.4}), alternate {al:.4} (pos {:.4} + chunk {:.4})",
        j.pos_loss, j.chunk_loss, a.pos_loss, a.chunk_loss
    );
    let ops = alt.iter().fold([0; 3], |mut acc, l| {
        (0..3).for_each(|k| acc[k] += l.op_counts[k]);
        acc
    });
    println!(
        "alternate ran pos_op {} times, chunk_op {} times",
        ops[0], ops[1]
    );
    assert!(ops[0] > 0 && ops[1] > 0 && ops[2] == 0);
    assert!(jl < al, "joint {jl} should be below alternate {al}");
}

#[test]
fn alternate_pos_step_leaves_the_chunk_head_bit_identical() {
    let data = synthetic();
    let g = Graph::with_seed(3);
    let model = Tagger::build(&g, &TaggerConfig::tutorial(&data.vocab)).unwrap();
    let mut sess = Session::new(&g);
    sess.run(&[g.global_variables_initializer().into()], &[])
        .unwrap();
    let chunk_head = model.variables_under(&["chunk_decoder/", "chunk_out/", "pos_to_chunk_emb"]);
    let shared = model.variables_under(&["word_emb", "encoder/", "pos_decoder/", "pos_out/"]);
    assert_eq!(chunk_head.len(), 5, "{chunk_head:?}");
    assert_eq!(shared.len(), 7, "{shared:?}");
    let snapshot = |sess: &Session, vs: &[Tensor]| -> Vec<Value> {
        vs.iter()
            .map(|v| sess.variable_value(*v).unwrap().clone())
            .collect()
    };
    let batch = staticflow::data::make_batch(&data.train_enc, &(0..32).collect::<Vec<_>>());
    let head_before = snapshot(&sess, &chunk_head);
    let shared_before = snapshot(&sess, &shared);
    for _ in 0..3 {
        let (p, c) = model.train_step(&mut sess, model.pos_op, &batch).unwrap();
        assert!(
            p.is_some() && c.is_none(),
            "pos_op computes only the POS loss"
        );
    }
    assert_eq!(
        snapshot(&sess, &chunk_head),
        head_before,
        "pos_op touched the chunk head"
    );
    let shared_after = snapshot(&sess, &shared);
    for ((v, a), b) in shared.iter().zip(&shared_after).zip(&shared_before) {
        assert_ne!(a, b, "pos_op did not update {}", v.name());
    }
    // The chunk op trains everything on its path, the POS branch included (no stop-gradient).
    model.train_step(&mut sess, model.chunk_op, &batch).unwrap();
    assert_ne!(snapshot(&sess, &chunk_head), head_before);
    // pos_op does not even run the chunk branch: pruned from its plan.
    let plan = sess
        .plan_nodes(
            &[model.pos_op.into()],
            &[
                (model.words, (&batch.words).into()),
                (model.mask, (&batch.mask).into()),
                (model.pos, (&batch.pos).into()),
            ],
        )
        .unwrap();
    assert!(!plan.iter().any(|n| n.contains("chunk")), "{plan:?}");
}

#[test]
fn checkpoint_round_trip_and_resume_give_the_uninterrupted_losses() {
    let c = synthetic_corpus_sized(480, 120);
    let data = TaggerData::new("synthetic", c.train, c.test);
    let cfg = TaggerConfig::tutorial(&data.vocab);
    let dir = std::env::temp_dir().join(format!("sf-pos-chunk-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ckpt = dir.join("epoch1.safetensors");
    let opts = |epochs| TrainOptions::new(Regime::Alternate, epochs, 5);

    // Uninterrupted: 2 epochs.
    let g = Graph::with_seed(5);
    let m = Tagger::build(&g, &cfg).unwrap();
    let mut sess = Session::new(&g);
    sess.run(&[g.global_variables_initializer().into()], &[])
        .unwrap();
    let full = train(&mut sess, &m, &data, &opts(2), |_| {}).unwrap();

    // 1 epoch, save, restore into a fresh graph and session, continue to epoch 2.
    let g1 = Graph::with_seed(5);
    let m1 = Tagger::build(&g1, &cfg).unwrap();
    let mut s1 = Session::new(&g1);
    s1.run(&[g1.global_variables_initializer().into()], &[])
        .unwrap();
    let first = train(&mut s1, &m1, &data, &opts(1), |_| {}).unwrap();
    Saver::new(&g1).save(&s1, &ckpt).unwrap();

    let g2 = Graph::with_seed(99); // another init: everything must come from the file
    let m2 = Tagger::build(&g2, &cfg).unwrap();
    let mut s2 = Session::new(&g2);
    s2.run(&[g2.global_variables_initializer().into()], &[])
        .unwrap();
    Saver::new(&g2).restore(&mut s2, &ckpt).unwrap();
    // round trip: every variable (weights, Adam slots, beta powers, global step) is back
    let (v1, v2) = (g1.global_variables(), g2.global_variables());
    assert_eq!(v1.len(), v2.len());
    for (a, b) in v1.iter().zip(&v2) {
        assert_eq!(a.name(), b.name());
        assert_eq!(
            s1.variable_value(*a).unwrap(),
            s2.variable_value(*b).unwrap()
        );
    }
    let rest = train(&mut s2, &m2, &data, &opts(2), |_| {}).unwrap();
    assert_eq!(rest.len(), 1, "resumes after the saved epoch");
    assert_eq!(rest[0].epoch, 2);
    let (a, b) = (&full[1], &rest[0]);
    println!(
        "epoch 2 uninterrupted: train {:.6}/{:.6} test {:.6}/{:.6}; resumed: train {:.6}/{:.6} test {:.6}/{:.6}",
        a.train_pos_loss, a.train_chunk_loss, a.test.pos_loss, a.test.chunk_loss,
        b.train_pos_loss, b.train_chunk_loss, b.test.pos_loss, b.test.chunk_loss
    );
    assert_eq!(first[0].train_pos_loss, full[0].train_pos_loss);
    assert_eq!(a.train_pos_loss, b.train_pos_loss);
    assert_eq!(a.train_chunk_loss, b.train_chunk_loss);
    assert_eq!(a.test.pos_loss, b.test.pos_loss);
    assert_eq!(a.test.chunk_loss, b.test.chunk_loss);
    assert_eq!(a.op_counts, b.op_counts);

    // A checkpoint of another configuration is a clear mismatch error.
    let g3 = Graph::with_seed(1);
    let best = TaggerConfig::best(&data.vocab);
    Tagger::build(&g3, &best).unwrap();
    let mut s3 = Session::new(&g3);
    s3.run(&[g3.global_variables_initializer().into()], &[])
        .unwrap();
    let err = Saver::new(&g3).restore(&mut s3, &ckpt).unwrap_err();
    assert!(matches!(err, Error::Mismatch { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("encoder_bw") && msg.contains("epoch1.safetensors"),
        "{msg}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn real_conll2000_short_run_beats_the_baseline() {
    // Looked up as the example does: $MTL_DATA_DIR/conll2000, else ../shared/data/conll2000
    // beside the project root.
    let Some(dir) = staticflow::data::find_data_dir("conll2000", &["train.txt"]) else {
        skip::skip(
            "real_conll2000_short_run_beats_the_baseline",
            &skip::data_missing("conll2000"),
        );
        return;
    };
    let train_s = staticflow::data::read_conll(dir.join("train.txt")).unwrap();
    let test_s = staticflow::data::read_conll(dir.join("test.txt")).unwrap();
    // A brief run: one epoch (280 steps), scored on 500 test sentences.
    let data = TaggerData::new("conll2000", train_s, test_s[..500].to_vec());
    let (pos_base, chunk_base) = majority_baseline(&data);
    let logs = run(&data, Regime::Joint, 1, 0);
    let s = logs[0].test.score;
    println!(
        "CoNLL-2000 subset, 1 epoch joint: POS {:.4} (majority {pos_base:.4}), chunk {:.4} (majority {chunk_base:.4}), F1 {:.4}, {:.0} tok/s",
        s.pos_acc,
        s.chunk_acc,
        s.chunk.f1(),
        logs[0].tokens_per_s
    );
    assert!(s.pos_acc > pos_base + 0.25, "POS {}", s.pos_acc);
    assert!(s.chunk_acc > chunk_base + 0.25, "chunk {}", s.chunk_acc);
}

#[test]
fn strategy_regime_needs_a_strategy_op_and_probes_cosines() {
    let c = synthetic_corpus_sized(64, 8);
    let data = TaggerData::new("synthetic", c.train, c.test);
    let cfg = TaggerConfig::tutorial(&data.vocab);
    let opts = TrainOptions {
        cosine_every: 1,
        ..TrainOptions::new(Regime::Strategy, 1, 0)
    };
    let g = Graph::with_seed(0);
    let plain = Tagger::build(&g, &cfg).unwrap();
    let mut sess = Session::new(&g);
    sess.run(&[g.global_variables_initializer().into()], &[])
        .unwrap();
    let err = train(&mut sess, &plain, &data, &opts, |_| {}).unwrap_err();
    assert!(err.to_string().contains("build_with_strategy"), "{err}");

    let g = Graph::with_seed(0);
    let m = Tagger::build_with_strategy(&g, &cfg, Some("pcgrad")).unwrap();
    let mut sess = Session::new(&g);
    sess.run(&[g.global_variables_initializer().into()], &[])
        .unwrap();
    let logs = train(&mut sess, &m, &data, &opts, |_| {}).unwrap();
    let l = &logs[0];
    assert_eq!(
        l.op_counts,
        [0, 0, 2],
        "two batches, both the strategy's op"
    );
    assert_eq!(l.cosine_probes, 2);
    let cos = l.mean_cosine.unwrap();
    assert!((-1.0..=1.0).contains(&cos), "{cos}");
    assert!(l.train_pos_loss.is_finite() && l.train_chunk_loss.is_finite());
    let g = Graph::with_seed(0);
    let e = Tagger::build_with_strategy(&g, &cfg, Some("nope"));
    assert!(matches!(e, Err(Error::UnknownStrategy { .. })));
}
