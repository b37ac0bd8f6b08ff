//! Building the multi-head model and training it: one phase from scratch or from given
//! values, the pretrain-transfer-unfreeze schedule, and the learning-rate finder.

use super::input::{eval_input, train_input};
use super::{Args, TASKS};
use staticflow::data::mtfl::{self, MtflSplit};
use staticflow::heads::{
    Estimator, Head, Mode, MultiClassHead, MultiHead, MultiHeadSpec, RegressionHead, Weighting,
};
use staticflow::models::face_landmarks::trunk_with;
use staticflow::prelude::*;
use staticflow::train::{trainable_variables_in, LrFinder, OneCycle, PartialRestore};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// Both splits, standardised per image, and what the heads need from the training labels.
pub(crate) struct Data {
    pub(crate) train: Arc<MtflSplit>,
    pub(crate) test: Arc<MtflSplit>,
    pub(crate) pose_weights: Vec<f32>,
}

/// How one model is built.
#[derive(Clone, Debug)]
pub(crate) struct ModelCfg {
    pub(crate) tasks: Vec<usize>,
    pub(crate) weighting: Weighting,
    /// Scope of the trunk's variables.
    pub(crate) scope: &'static str,
    /// Batch normalisation after each convolution of the trunk.
    pub(crate) batch_norm: bool,
}

/// How one training phase optimises.
#[derive(Clone, Debug)]
pub(crate) struct Phase {
    pub(crate) steps: usize,
    pub(crate) lr: f32,
    pub(crate) one_cycle: bool,
    /// The learning rate is a feedable `lr` (for the finder).
    pub(crate) feed_lr: bool,
    pub(crate) frozen_trunk: bool,
    pub(crate) trunk_lr_mult: f32,
}

/// Where a phase's variables start from.
pub(crate) enum Start<'a> {
    Fresh,
    /// Values by variable name (the previous phase's).
    Values(&'a [(String, Value)]),
    /// A partial restore of the trunk from a checkpoint saved with the `encoder/` scope.
    Encoder(&'a Path),
}

/// What a phase gives.
pub(crate) struct PhaseOut {
    pub(crate) metrics: BTreeMap<String, f64>,
    pub(crate) steps_per_s: f64,
    pub(crate) weights: Vec<f32>,
    pub(crate) predictions: BTreeMap<String, Value>,
    pub(crate) values: Vec<(String, Value)>,
}

/// The training phase of a model trained from scratch.
pub(crate) fn plain_phase(args: &Args, lr: f32) -> Phase {
    Phase {
        steps: args.steps,
        lr,
        one_cycle: args.one_cycle,
        feed_lr: false,
        frozen_trunk: false,
        trunk_lr_mult: 1.0,
    }
}

/// One model trained from scratch for `--steps` at `lr`, evaluated on the test split.
pub(crate) fn train_fresh(
    args: &Args,
    data: &Data,
    cfg: &ModelCfg,
    lr: f32,
) -> staticflow::Result<PhaseOut> {
    run_phase(
        args,
        data,
        cfg,
        &plain_phase(args, lr),
        Start::Fresh,
        None,
        true,
    )
}

/// `--pretrain landmarks`: encoder on landmarks, saved; transferred by partial restore; heads
/// first with the trunk frozen; then unfrozen with the trunk's learning rate scaled.
pub(crate) fn train_pretrained(
    args: &Args,
    data: &Data,
    cfg: &ModelCfg,
    lr: f32,
) -> staticflow::Result<PhaseOut> {
    let ckpt = args.out.join("encoder.safetensors");
    let pre = ModelCfg {
        tasks: vec![0],
        weighting: Weighting::default(),
        scope: "encoder",
        batch_norm: args.batch_norm,
    };
    let mut phase = plain_phase(args, lr);
    phase.steps = args.pretrain_steps.unwrap_or(args.steps);
    let t0 = Instant::now();
    let out = run_phase(args, data, &pre, &phase, Start::Fresh, Some(&ckpt), true)?;
    println!(
        "pretrain: landmarks only, {} steps in {:.1} s, test rmse {:.4}; saved {}",
        phase.steps,
        t0.elapsed().as_secs_f64(),
        out.metrics
            .get("rmse/landmarks")
            .copied()
            .unwrap_or(f64::NAN),
        ckpt.display()
    );
    let freeze = args.freeze_steps.unwrap_or(args.steps / 5).min(args.steps);
    let mut head_first = plain_phase(args, lr);
    head_first.steps = freeze;
    head_first.frozen_trunk = true;
    let first = run_phase(
        args,
        data,
        cfg,
        &head_first,
        Start::Encoder(&ckpt),
        None,
        false,
    )?;
    println!("head-first: {freeze} steps with trunk/* frozen");
    let mut unfrozen = plain_phase(args, lr);
    unfrozen.steps = args.steps - freeze;
    unfrozen.trunk_lr_mult = args.trunk_lr_mult;
    println!(
        "unfrozen: {} steps, trunk learning rate x{}",
        unfrozen.steps, args.trunk_lr_mult
    );
    run_phase(
        args,
        data,
        cfg,
        &unfrozen,
        Start::Values(&first.values),
        None,
        true,
    )
}

/// The trunk, the heads of `cfg.tasks` and their multi-head spec, trained by `phase`'s Adam.
pub(crate) fn build_model<'g>(
    g: &'g Graph,
    data: &Data,
    cfg: &ModelCfg,
    phase: &Phase,
) -> staticflow::Result<(Tensor<'g>, MultiHeadSpec<'g>)> {
    // The flag is fed by the estimator (`with_training_flag` in `run_phase`).
    let training = cfg
        .batch_norm
        .then(|| placeholder_with_default(g.constant(false), "training"));
    let (x, h) = {
        let _s = g.name_scope(cfg.scope);
        trunk_with(g, None, training)
    };
    let mut heads: Vec<Box<dyn Head>> = Vec::new();
    let mut logits = Vec::new();
    for &t in &cfg.tasks {
        let name = TASKS[t];
        if t == 0 {
            let l = dense(h, 10, Activation::None, "landmarks_logits");
            logits.push(sigmoid(l));
            heads.push(Box::new(RegressionHead::new(name, 10)));
        } else {
            let n = mtfl::ATTRIBUTE_CLASSES[t - 1];
            logits.push(dense(h, n, Activation::None, &format!("{name}_logits")));
            let head = MultiClassHead::new(name, n);
            heads.push(Box::new(if name == "pose" {
                head.with_class_weights(data.pose_weights.clone())?
            } else {
                head
            }));
        }
    }
    let mut opt = if phase.feed_lr {
        Adam::new(placeholder_with_default(g.constant(phase.lr), "lr"))
    } else if phase.one_cycle {
        let step = get_or_create_global_step(g)?;
        OneCycle::new(phase.lr, phase.steps as u64).adam(step)
    } else {
        Adam::new(phase.lr)
    };
    let trunk_vars = trainable_variables_in(g, &[&format!("{}/*", cfg.scope)])?;
    if phase.frozen_trunk {
        opt = opt.with_frozen(&trunk_vars);
    }
    if phase.trunk_lr_mult != 1.0 {
        opt = opt.with_lr_multiplier(&trunk_vars, phase.trunk_lr_mult);
    }
    let spec = MultiHead::new(heads)
        .with_weighting(cfg.weighting.clone())
        .create_spec(&logits, Mode::Train, Some(&opt))?;
    Ok((x, spec))
}

/// The estimator of a model from [`build_model`], feeding its batch-norm training flag.
fn estimator<'g>(
    g: &'g Graph,
    x: Tensor<'g>,
    spec: MultiHeadSpec<'g>,
    cfg: &ModelCfg,
) -> staticflow::Result<Estimator<'g>> {
    let est = Estimator::new(g, &[("x", x)], spec)?;
    match (cfg.batch_norm, g.tensor_by_name("training")) {
        (false, _) => Ok(est),
        (true, Some(t)) => est.with_training_flag(t),
        (true, None) => Err(staticflow::Error::InvalidArgument(
            "the batch-norm model has no `training` flag".into(),
        )),
    }
}

/// Builds a fresh graph, sets its variables from `start`, trains `phase.steps`, then saves
/// to `save` and evaluates and predicts on the test split if asked.
pub(crate) fn run_phase(
    args: &Args,
    data: &Data,
    cfg: &ModelCfg,
    phase: &Phase,
    start: Start<'_>,
    save: Option<&Path>,
    evaluate: bool,
) -> staticflow::Result<PhaseOut> {
    let g = Graph::with_seed(args.seed);
    let (x, spec) = build_model(&g, data, cfg, phase)?;
    let mut est = estimator(&g, x, spec, cfg)?;
    match start {
        Start::Fresh => {}
        Start::Values(values) => {
            for (name, v) in values {
                if let Some(t) = g.tensor_by_name(name) {
                    est.session().set_variable(t, v.clone())?;
                }
            }
        }
        Start::Encoder(path) => {
            let report = PartialRestore::new(&["trunk/*"])
                .map_scope("encoder/", "trunk/")
                .restore(est.session(), path)?;
            println!(
                "transfer: restored {} trunk variables from {} (encoder/ -> trunk/); missing {:?}; \
                 unexpected {:?}; ignored {} other entries",
                report.restored.len(),
                path.display(),
                report.missing,
                report.unexpected,
                report.ignored.len()
            );
        }
    }
    let input = train_input(
        Arc::clone(&data.train),
        cfg.tasks.clone(),
        args.batch,
        args.seed,
    );
    let rep = est.train(input.iter(), phase.steps)?;
    if let Some(path) = save {
        Saver::new(&g).save(est.session(), path)?;
    }
    let (metrics, weights, predictions) = if evaluate {
        let m = est.evaluate(eval_input(Arc::clone(&data.test), cfg.tasks.clone()).iter())?;
        let w = est.head_weights()?;
        let p = est.predict(eval_input(Arc::clone(&data.test), cfg.tasks.clone()).iter())?;
        (m, w, p)
    } else {
        Default::default()
    };
    let mut values = Vec::new();
    for v in g.trainable_variables() {
        values.push((v.name(), est.session().variable_value(v)?.clone()));
    }
    Ok(PhaseOut {
        metrics,
        steps_per_s: rep.steps_per_second(),
        weights,
        predictions,
        values,
    })
}

/// `--lr-find`: the finder on a fresh multi-task model with `weighting` (fixed weights if it
/// has no joint train op); returns the valley suggestion.
pub(crate) fn find_lr(args: &Args, data: &Data, weighting: &str) -> staticflow::Result<f32> {
    let mut w: Weighting = weighting.parse()?;
    if matches!(w, Weighting::Alternate) {
        w = Weighting::default();
    }
    let cfg = ModelCfg {
        tasks: (0..TASKS.len()).collect(),
        weighting: w,
        scope: "trunk",
        batch_norm: args.batch_norm,
    };
    let mut phase = plain_phase(args, args.lr);
    phase.feed_lr = true;
    let g = Graph::with_seed(args.seed);
    let (x, spec) = build_model(&g, data, &cfg, &phase)?;
    let labels: Vec<(String, Tensor<'_>)> = spec
        .heads
        .iter()
        .filter_map(|h| h.labels.map(|l| (h.name.clone(), l)))
        .collect();
    let (Some(train_op), Some(loss), Some(lr)) = (spec.train_op, spec.loss, g.tensor_by_name("lr"))
    else {
        return Err(staticflow::Error::InvalidArgument(
            "the learning-rate finder needs a joint train op".into(),
        ));
    };
    let mut est = estimator(&g, x, spec, &cfg)?;
    let input = train_input(
        Arc::clone(&data.train),
        cfg.tasks.clone(),
        args.batch,
        args.seed ^ 0x1F,
    );
    let mut batches = input.iter();
    // The finder's steps are train steps: batch norm (if any) takes the batch statistics.
    let (training, on) = (
        g.tensor_by_name("training"),
        Value::Bool(ndarray::arr0(true).into_dyn()),
    );
    let finder = LrFinder::default();
    let before = variable_bits(&g, est.session())?;
    let t0 = Instant::now();
    let res = finder.run(est.session(), |sess, rate| {
        let b = batches
            .next()
            .ok_or_else(|| staticflow::Error::InvalidArgument("input ended".into()))??;
        let r = Value::from(rate);
        let mut feeds = vec![(x, b.features[0].1.view()), (lr, r.view())];
        if let Some(t) = training {
            feeds.push((t, on.view()));
        }
        for (name, t) in &labels {
            if let Some((_, v)) = b.labels.iter().find(|(n, _)| n == name) {
                feeds.push((*t, v.view()));
            }
        }
        sess.run(&[train_op.into(), loss.into()], &feeds)?.scalar(1)
    })?;
    let after = variable_bits(&g, est.session())?;
    if after != before {
        return Err(staticflow::Error::InvalidArgument(
            "the learning-rate finder left a variable changed".into(),
        ));
    }
    println!(
        "lr finder: all {} variables (weights, Adam slots and beta powers) bit-identical after the sweep",
        before.len()
    );
    let svg = args.out.join("lr_find.svg");
    res.write_svg(&svg)?;
    let fmt = |v: Option<f32>| v.map_or("-".into(), |v| format!("{v:.2e}"));
    println!(
        "lr finder: {} steps in {:.1} s{}; suggestions: valley {}, steepest {}, minimum/10 {}; plot {}",
        res.lrs.len(),
        t0.elapsed().as_secs_f64(),
        res.diverged_at
            .map(|i| format!(", diverged at lr {:.2e}", res.lrs[i]))
            .unwrap_or_default(),
        fmt(res.valley),
        fmt(res.steepest),
        fmt(res.minimum),
        svg.display()
    );
    Ok(res.valley.unwrap_or(args.lr))
}

/// Every initialized variable's name and value bits (f32 bit patterns, i64 values).
pub(crate) fn variable_bits(
    g: &Graph,
    sess: &Session<'_>,
) -> staticflow::Result<Vec<(String, Vec<u64>)>> {
    let mut out = Vec::new();
    for v in g.global_variables() {
        if !sess.is_initialized(v)? {
            continue;
        }
        let bits = match sess.variable_value(v)? {
            Value::F32(a) => a.iter().map(|x| x.to_bits() as u64).collect(),
            Value::I64(a) => a.iter().map(|x| *x as u64).collect(),
            Value::Bool(a) => a.iter().map(|x| *x as u64).collect(),
            Value::Bytes(b) => b.iter().map(|x| *x as u64).collect(),
        };
        out.push((v.name(), bits));
    }
    Ok(out)
}
