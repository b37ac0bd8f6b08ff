//! `--profile N` and `--write-graphs`.

use crate::args::Args;
use staticflow::models::tagger::{Tagger, TaggerConfig, TaggerData};
use staticflow::prelude::*;
use std::path::Path;
use std::time::Instant;

/// `--profile N`: times every kernel of N joint steps (after 3 warm-up steps) and prints the
/// time per op kind and the 25 slowest nodes.
pub(crate) fn profile(args: &Args, data: &TaggerData, config: &TaggerConfig) -> Result<()> {
    use staticflow::data::{make_batch, train_batches};
    use staticflow::session::Profile;
    let g = Graph::with_seed(args.seed);
    let model = Tagger::build(&g, config)?;
    let mut sess = Session::new(&g);
    sess.run(&[g.global_variables_initializer().into()], &[])?;
    let lengths: Vec<usize> = data.train_enc.iter().map(|s| s.len()).collect();
    let mut rng = staticflow::models::tagger::epoch_rng(args.seed, 1);
    let order = train_batches(&lengths, 32, true, &mut rng);
    for idx in order.iter().take(3) {
        model.train_step(&mut sess, model.joint_op, &make_batch(&data.train_enc, idx))?;
    }
    let mut total = Profile::default();
    let (mut tokens, t0) = (0usize, Instant::now());
    for idx in order.iter().skip(3).take(args.profile) {
        let b = make_batch(&data.train_enc, idx);
        tokens += b.tokens();
        let mut feeds: Vec<(Tensor, ValueView)> = vec![
            (model.words, (&b.words).into()),
            (model.mask, (&b.mask).into()),
            (model.pos, (&b.pos).into()),
            (model.chunks, (&b.chunks).into()),
        ];
        if let Some(t) = model.case {
            feeds.push((t, (&b.case).into()));
        }
        if let Some(t) = model.suffix {
            feeds.push((t, (&b.suffix).into()));
        }
        let (_, p) = sess.run_profiled(&[model.joint_op.into()], &feeds)?;
        total.entries.extend(p.entries);
    }
    let wall = t0.elapsed().as_secs_f64();
    println!(
        "{} joint steps, {tokens} tokens, {:.0} tok/s (profiled), kernels {:.1} ms of {:.1} ms",
        args.profile,
        tokens as f64 / wall,
        total.total_micros() / 1e3,
        wall * 1e3
    );
    for (op, us) in total.by_op().iter().take(20) {
        println!(
            "{op:<28} {:>9.1} ms {:>5.1}%",
            us / 1e3,
            100.0 * us / total.total_micros()
        );
    }
    let mut by_node: std::collections::BTreeMap<String, (String, f64)> = Default::default();
    for e in &total.entries {
        let x = by_node.entry(e.name.clone()).or_insert((e.op.clone(), 0.0));
        x.1 += e.micros;
    }
    let mut v: Vec<_> = by_node.into_iter().collect();
    v.sort_by(|a, b| b.1 .1.total_cmp(&a.1 .1));
    for (name, (op, us)) in v.iter().take(25) {
        println!("{name:<60} {op:<22} {:>8.1} ms", us / 1e3);
    }
    Ok(())
}

pub(crate) fn write_graph_files() -> Result<()> {
    let g = Graph::with_seed(0);
    Tagger::build(&g, &TaggerConfig::conll2000_tutorial())?;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("graphs");
    staticflow::io::write_graph(&g, dir.join("pos_chunk.json"))?;
    let dot = dir.join("pos_chunk.dot");
    staticflow::io::write_atomic(&dot, staticflow::io::to_dot(&g))
}
