//! The multi-task toolkit (`staticflow::mtl`): the task partition, every strategy training a
//! small multi-task net and touching exactly the variables it should, diagnostics against
//! hand computation from fetched per-task gradients, DWA's in-graph history against its
//! formula, checkpoints of stateful strategies continuing bit for bit, and the typed errors.

use ndarray::{Array2, ArrayD};
use staticflow::mtl::{self, Strategy, Tasks};
use staticflow::prelude::*;

/// Every strategy, `fixed` with explicit weights.
fn all_strategies() -> Vec<String> {
    mtl::NAMES
        .iter()
        .map(|n| match *n {
            "fixed" => "fixed:1,2,0.5".to_string(),
            n => n.to_string(),
        })
        .collect()
}

/// A trunk `relu(x · ws)` with `t` linear heads and an unrelated variable `unused/w`.
struct Net<'g> {
    x: Tensor<'g>,
    ys: Vec<Tensor<'g>>,
    ws: Tensor<'g>,
    heads: Vec<Tensor<'g>>,
    losses: Vec<Tensor<'g>>,
    feature: Tensor<'g>,
    unused: Tensor<'g>,
}

fn net(g: &Graph, t: usize) -> Net<'_> {
    let x = g.placeholder("x", [None, Some(4)]);
    let ws = g.variable("shared/w", init::glorot_uniform(&[4, 8]));
    let unused = g.variable("unused/w", init::glorot_uniform(&[3, 3]));
    let feature = relu(matmul(x, ws));
    let (mut ys, mut heads, mut losses) = (vec![], vec![], vec![]);
    for k in 0..t {
        let y = g.placeholder(&format!("y{k}"), [None, Some(1)]);
        let w = g.variable(&format!("task{k}/w"), init::glorot_uniform(&[8, 1]));
        losses.push(mean_squared_error(y, matmul(feature, w)));
        ys.push(y);
        heads.push(w);
    }
    Net {
        x,
        ys,
        ws,
        heads,
        losses,
        feature,
        unused,
    }
}

fn tasks<'g>(g: &'g Graph, n: &Net<'g>) -> Tasks<'g> {
    n.losses
        .iter()
        .enumerate()
        .fold(Tasks::new(g), |t, (k, l)| t.task(&format!("task{k}"), *l))
}

/// A batch: targets of task k are a different mix of the inputs (tasks partly conflict).
fn batch(t: usize, rows: usize, seed: usize) -> (Array2<f32>, Vec<Array2<f32>>) {
    let x = Array2::from_shape_fn((rows, 4), |(i, j)| {
        (((i + 3 * seed) * 7 + j * 13) % 17) as f32 / 8.0 - 1.0
    });
    let ys = (0..t)
        .map(|k| {
            Array2::from_shape_fn((rows, 1), |(i, _)| {
                (0..4)
                    .map(|j| {
                        x[[i, j]]
                            * if (j + k) % 3 == 0 {
                                -1.0
                            } else {
                                0.5 + k as f32
                            }
                    })
                    .sum::<f32>()
            })
        })
        .collect();
    (x, ys)
}

fn feeds<'g, 'a>(
    n: &Net<'g>,
    x: &'a Array2<f32>,
    ys: &'a [Array2<f32>],
) -> Vec<(Tensor<'g>, ValueView<'a>)> {
    let mut f = vec![(n.x, x.into())];
    f.extend(n.ys.iter().zip(ys).map(|(t, y)| (*t, y.into())));
    f
}

fn values(sess: &Session<'_>, g: &Graph) -> Vec<(String, ArrayD<f32>)> {
    g.global_variables()
        .into_iter()
        .map(|v| {
            let val = sess.variable_value(v).unwrap();
            let a = match val.as_f32() {
                Ok(a) => a.clone(),
                Err(_) => val.as_i64().unwrap().mapv(|i| i as f32),
            };
            (v.name(), a)
        })
        .collect()
}

fn value(sess: &Session<'_>, v: Tensor<'_>) -> ArrayD<f32> {
    sess.variable_value(v).unwrap().as_f32().unwrap().clone()
}

#[test]
fn partition_finds_shared_and_task_specific_variables() {
    let g = Graph::with_seed(0);
    let n = net(&g, 3);
    let p = tasks(&g, &n).partition().unwrap();
    assert_eq!(p.shared, vec![n.ws]);
    for k in 0..3 {
        assert_eq!(p.specific[k], vec![n.heads[k]]);
        assert_eq!(p.reaches[k], vec![true]);
    }
    // Override: the heads of tasks 0 and 1 declared shared too.
    let p = tasks(&g, &n)
        .shared(&[n.ws, n.heads[0]])
        .partition()
        .unwrap();
    assert_eq!(p.shared, vec![n.ws, n.heads[0]]);
    assert!(p.specific[0].is_empty());
    assert_eq!(p.reaches[1], vec![true, false]);
}

#[test]
fn every_strategy_trains_and_touches_exactly_its_variables() {
    for name in all_strategies() {
        let name = name.as_str();
        let g = Graph::with_seed(3);
        let n = net(&g, 3);
        let ts = tasks(&g, &n);
        let strategy = mtl::by_name(name).unwrap();
        let train = strategy.minimize(&Adam::new(0.02), &ts).unwrap();
        let total: Vec<Tensor<'_>> = n.losses.clone();
        let mut sess = Session::new(&g);
        sess.run(&[g.global_variables_initializer().into()], &[])
            .unwrap();
        let before = values(&sess, &g);
        let (x, ys) = batch(3, 32, 0);
        let f = feeds(&n, &x, &ys);
        let fetch: Vec<Fetch<'_>> = total.iter().map(|t| (*t).into()).collect();
        let l0: f32 = (0..3)
            .map(|k| sess.run(&fetch, &f).unwrap().scalar(k).unwrap())
            .sum();
        for _ in 0..300 {
            sess.run(&[(&train).into()], &f).unwrap();
        }
        // One plan for the step (plus the initializer's).
        assert_eq!(sess.num_plans(), 3, "{name}");
        let l1: f32 = (0..3)
            .map(|k| sess.run(&fetch, &f).unwrap().scalar(k).unwrap())
            .sum();
        assert!(l1 < 0.5 * l0, "{name}: summed loss {l0} -> {l1}");
        let after = values(&sess, &g);
        for ((v, a), (_, b)) in before.iter().zip(&after) {
            if v == "unused/w" {
                assert_eq!(a, b, "{name}: `{v}` must stay bit-identical");
            } else if v.starts_with("shared/") || v.starts_with("task") {
                assert_ne!(a, b, "{name}: `{v}` must be trained");
            }
        }
    }
}

#[test]
fn alternate_and_joint_touch_exactly_their_variables() {
    let g = Graph::with_seed(3);
    let n = net(&g, 2);
    let op0 = Adam::new(0.02).minimize(n.losses[0]).unwrap();
    let joint = mtl::Fixed::equal()
        .minimize(&Adam::new(0.02), &tasks(&g, &n))
        .unwrap();
    let mut sess = Session::new(&g);
    sess.run(&[g.global_variables_initializer().into()], &[])
        .unwrap();
    let (x, ys) = batch(2, 8, 0);
    let f = feeds(&n, &x, &ys);
    let (ws, w0, w1, u) = (
        value(&sess, n.ws),
        value(&sess, n.heads[0]),
        value(&sess, n.heads[1]),
        value(&sess, n.unused),
    );
    sess.run(&[op0.into()], &f).unwrap();
    assert_ne!(value(&sess, n.ws), ws);
    assert_ne!(value(&sess, n.heads[0]), w0);
    assert_eq!(
        value(&sess, n.heads[1]),
        w1,
        "task 0's op leaves task 1's head"
    );
    sess.run(&[joint.into()], &f).unwrap();
    assert_ne!(value(&sess, n.heads[1]), w1);
    assert_eq!(value(&sess, n.unused), u);
}

/// The forward pass is computed once in a gradient-level step: one shared MatMul and one per
/// head outside the gradient scopes.
#[test]
fn gradient_level_step_shares_the_forward_pass() {
    let g = Graph::with_seed(3);
    let n = net(&g, 3);
    let train = mtl::Mean::default()
        .minimize(&GradientDescent::new(0.1), &tasks(&g, &n))
        .unwrap();
    let mut sess = Session::new(&g);
    let (x, ys) = batch(3, 8, 0);
    let nodes = sess
        .plan_nodes(&[train.into()], &feeds(&n, &x, &ys))
        .unwrap();
    let forward = nodes
        .iter()
        .filter(|s| s.contains("MatMul") && !s.contains("gradients"))
        .count();
    assert_eq!(forward, 4, "{nodes:?}");
    let backward_heads = nodes
        .iter()
        .filter(|s| s.contains("gradients") && s.contains("MatMul"))
        .count();
    assert!(backward_heads >= 3, "{nodes:?}");
}

/// `mean` with plain SGD: diagnostics equal the hand computation from separately fetched
/// per-task gradients; the shared update is `-lr · mean(g_k)`, each head's `-lr · g_k`.
#[test]
fn diagnostics_and_update_match_hand_computation() {
    let g = Graph::with_seed(5);
    let n = net(&g, 3);
    let lr = 0.1f32;
    let train = mtl::Mean::default()
        .minimize(&GradientDescent::new(lr), &tasks(&g, &n))
        .unwrap();
    let d = train.diagnostics.unwrap();
    let mut ref_grads = Vec::new();
    for k in 0..3 {
        let gr = gradients(&[n.losses[k]], &[n.ws, n.heads[k]]).unwrap();
        ref_grads.push((gr[0].unwrap(), gr[1].unwrap()));
    }
    let mut sess = Session::new(&g);
    sess.run(&[g.global_variables_initializer().into()], &[])
        .unwrap();
    let (x, ys) = batch(3, 16, 1);
    let f = feeds(&n, &x, &ys);
    let mut fetch: Vec<Fetch<'_>> = vec![d.grad_norms.into(), d.cosines.into(), d.weights.into()];
    for (a, b) in &ref_grads {
        fetch.push((*a).into());
        fetch.push((*b).into());
    }
    let out = sess.run(&fetch, &f).unwrap();
    let gs: Vec<ArrayD<f32>> = (0..3)
        .map(|k| out.f32(3 + 2 * k).unwrap().clone())
        .collect();
    let gh: Vec<ArrayD<f32>> = (0..3)
        .map(|k| out.f32(4 + 2 * k).unwrap().clone())
        .collect();
    let dot = |a: &ArrayD<f32>, b: &ArrayD<f32>| (a * b).sum() as f64;
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-5 * (1.0 + b.abs());
    for i in 0..3 {
        let ni = dot(&gs[i], &gs[i]).sqrt();
        assert!(close(out.f32(0).unwrap()[[i]] as f64, ni));
        assert!(close(out.f32(2).unwrap()[[i]] as f64, 1.0 / 3.0));
        for j in 0..3 {
            let c = dot(&gs[i], &gs[j]) / (ni * dot(&gs[j], &gs[j]).sqrt());
            assert!(close(out.f32(1).unwrap()[[i, j]] as f64, c), "cos {i} {j}");
        }
    }
    let (ws0, heads0): (ArrayD<f32>, Vec<ArrayD<f32>>) = (
        value(&sess, n.ws),
        n.heads.iter().map(|h| value(&sess, *h)).collect(),
    );
    sess.run(&[train.op.into()], &f).unwrap();
    let mean = (&gs[0] + &gs[1] + &gs[2]) / 3.0;
    let expect = &ws0 - &(mean * lr);
    let got = value(&sess, n.ws);
    for (a, b) in got.iter().zip(expect.iter()) {
        assert!((a - b).abs() <= 1e-6 * (1.0 + b.abs()), "{a} vs {b}");
    }
    for k in 0..3 {
        let expect = &heads0[k] - &(&gh[k] * lr);
        let got = value(&sess, n.heads[k]);
        for (a, b) in got.iter().zip(expect.iter()) {
            assert!(
                (a - b).abs() <= 1e-6 * (1.0 + b.abs()),
                "head {k}: {a} vs {b}"
            );
        }
    }
}

/// DWA's weights come from its variables: 1 for the first two periods, then
/// `T softmax((L_prev / L_prev2) / τ)` of the period means, checked against the formula.
#[test]
fn dwa_weights_follow_the_period_means() {
    let g = Graph::with_seed(5);
    let n = net(&g, 2);
    let dwa = mtl::Dwa {
        temperature: 2.0,
        period: 2,
    };
    // Learning rate 0: the losses depend on the batch only.
    let train = dwa
        .minimize(&GradientDescent::new(0.0), &tasks(&g, &n))
        .unwrap();
    let mut sess = Session::new(&g);
    sess.run(&[g.global_variables_initializer().into()], &[])
        .unwrap();
    let mut fetch: Vec<Fetch<'_>> = vec![train.op.into()];
    fetch.extend(n.losses.iter().map(|l| Fetch::from(*l)));
    fetch.extend(train.weights.iter().map(|w| Fetch::from(*w)));
    let mut means: Vec<[f64; 2]> = vec![];
    let mut acc = [0f64; 2];
    for step in 0..6 {
        let (x, ys) = batch(2, 8, step);
        let out = sess.run(&fetch, &feeds(&n, &x, &ys)).unwrap();
        let w = [out.scalar(3).unwrap() as f64, out.scalar(4).unwrap() as f64];
        if means.len() < 2 {
            assert_eq!(w, [1.0, 1.0], "step {step}");
        } else {
            let (a, b) = (means[means.len() - 1], means[means.len() - 2]);
            let e: Vec<f64> = (0..2).map(|k| (a[k] / b[k] / 2.0).exp()).collect();
            for k in 0..2 {
                let expect = 2.0 * e[k] / (e[0] + e[1]);
                assert!(
                    (w[k] - expect).abs() < 1e-5,
                    "step {step}: {w:?} vs {expect}"
                );
            }
            assert!(w[0] != w[1]);
        }
        for (k, a) in acc.iter_mut().enumerate() {
            *a += out.scalar(1 + k).unwrap() as f64;
        }
        if step % 2 == 1 {
            means.push([acc[0] / 2.0, acc[1] / 2.0]);
            acc = [0.0; 2];
        }
    }
}

/// Stateful strategies keep their state in variables: save after 4 steps, run 6 more; a new
/// session restored from the checkpoint runs the same 6 steps to bit-identical variables.
#[test]
fn checkpoints_of_stateful_strategies_continue_bit_for_bit() {
    let dir = std::env::temp_dir().join(format!("staticflow-mtl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for name in ["dwa", "gradnorm", "uncertainty", "rlw", "gradvac"] {
        let g = Graph::with_seed(9);
        let n = net(&g, 3);
        let strategy: Box<dyn Strategy> = match name {
            "dwa" => Box::new(mtl::Dwa {
                temperature: 2.0,
                period: 2,
            }),
            other => mtl::by_name(other).unwrap(),
        };
        let train = strategy.minimize(&Adam::new(0.01), &tasks(&g, &n)).unwrap();
        let saver = Saver::new(&g);
        let path = dir.join(format!("{name}.ckpt"));
        let mut a = Session::new(&g);
        a.run(&[g.global_variables_initializer().into()], &[])
            .unwrap();
        run_steps(&mut a, &n, train.op, 0..4);
        saver.save(&a, &path).unwrap();
        run_steps(&mut a, &n, train.op, 4..10);
        let mut b = Session::new(&g);
        saver.restore(&mut b, &path).unwrap();
        run_steps(&mut b, &n, train.op, 4..10);
        let (va, vb) = (values(&a, &g), values(&b, &g));
        assert_eq!(va, vb, "{name}");
        // The strategy's state moved.
        let state: Vec<&(String, ArrayD<f32>)> = va
            .iter()
            .filter(|(v, _)| v.contains(name) || v.contains("log_variance"))
            .filter(|(_, a)| a.iter().any(|x| *x != 0.0 && *x != 1.0))
            .collect();
        assert!(
            !state.is_empty(),
            "{name}: {:?}",
            va.iter().map(|v| &v.0).collect::<Vec<_>>()
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

fn run_steps<'g>(
    sess: &mut Session<'g>,
    n: &Net<'g>,
    op: Operation<'g>,
    steps: std::ops::Range<usize>,
) {
    for s in steps {
        let (x, ys) = batch(n.ys.len(), 8, s);
        sess.run(&[op.into()], &feeds(n, &x, &ys)).unwrap();
    }
}

#[test]
fn gradnorm_weights_stay_normalised_and_rlw_draws_new_weights() {
    let g = Graph::with_seed(9);
    let n = net(&g, 3);
    let gn = mtl::GradNorm::default()
        .minimize(&Adam::new(0.05), &tasks(&g, &n))
        .unwrap();
    let g2 = Graph::with_seed(9);
    let n2 = net(&g2, 3);
    let rlw = mtl::Rlw
        .minimize(&Adam::new(0.05), &tasks(&g2, &n2))
        .unwrap();
    let mut s = Session::new(&g);
    s.run(&[g.global_variables_initializer().into()], &[])
        .unwrap();
    let mut s2 = Session::new(&g2);
    s2.run(&[g2.global_variables_initializer().into()], &[])
        .unwrap();
    let mut prev = vec![];
    for step in 0..20 {
        let (x, ys) = batch(3, 8, step);
        let out = s
            .run(
                &[(&gn).into(), gn.diagnostics.unwrap().weights.into()],
                &feeds(&n, &x, &ys),
            )
            .unwrap();
        let w = out.f32(1).unwrap();
        assert!((w.sum() - 3.0).abs() < 1e-4, "{w}");
        let mut fetch: Vec<Fetch<'_>> = vec![(&rlw).into()];
        fetch.extend(rlw.weights.iter().map(|w| Fetch::from(*w)));
        let out = s2.run(&fetch, &feeds(&n2, &x, &ys)).unwrap();
        let w: Vec<f32> = (1..4).map(|k| out.scalar(k).unwrap()).collect();
        assert!((w.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        assert_ne!(w, prev);
        prev = w;
    }
    let wv = g
        .global_variables()
        .into_iter()
        .find(|v| v.name().ends_with("gradnorm_weights"))
        .unwrap();
    let w = value(&s, wv);
    assert!(
        w.iter().any(|v| (v - 1.0).abs() > 1e-3),
        "weights moved: {w}"
    );
}

#[test]
fn rep_grad_aggregates_at_the_representation() {
    // With the representation, `mean` gives the same shared update as without (the chain
    // rule is linear), through one backward pass of the encoder.
    let mut got = vec![];
    for rep in [false, true] {
        let g = Graph::with_seed(5);
        let n = net(&g, 2);
        let mut ts = tasks(&g, &n);
        if rep {
            ts = ts.rep_grad(n.feature);
        }
        let train = mtl::Mean::default()
            .minimize(&GradientDescent::new(0.1), &ts)
            .unwrap();
        let mut sess = Session::new(&g);
        sess.run(&[g.global_variables_initializer().into()], &[])
            .unwrap();
        let (x, ys) = batch(2, 8, 0);
        sess.run(&[train.into()], &feeds(&n, &x, &ys)).unwrap();
        got.push(value(&sess, n.ws));
    }
    for (a, b) in got[0].iter().zip(got[1].iter()) {
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    }
    let g = Graph::with_seed(5);
    let n = net(&g, 2);
    let e = mtl::PcGrad::default()
        .minimize(&Adam::new(0.1), &tasks(&g, &n).rep_grad(n.feature))
        .unwrap_err();
    assert!(e.to_string().contains("pcgrad"), "{e}");
}

#[test]
fn non_finite_task_gradients_show_in_the_diagnostics() {
    let g = Graph::with_seed(5);
    let n = net(&g, 2);
    let train = mtl::Fixed::equal()
        .minimize(&Adam::new(0.1), &tasks(&g, &n))
        .unwrap();
    let d = train.diagnostics.unwrap();
    let mut sess = Session::new(&g);
    sess.run(&[g.global_variables_initializer().into()], &[])
        .unwrap();
    let (x, mut ys) = batch(2, 8, 0);
    ys[0][[0, 0]] = f32::INFINITY;
    let out = sess
        .run(&[d.grad_norms.into()], &feeds(&n, &x, &ys))
        .unwrap();
    let norms = out.f32(0).unwrap();
    assert!(!norms[[0]].is_finite() && norms[[1]].is_finite(), "{norms}");
}

#[test]
fn bad_task_sets_and_names_are_typed_errors() {
    let g = Graph::with_seed(0);
    let n = net(&g, 2);
    let opt = Adam::new(0.1);
    let eq = mtl::Fixed::equal();
    let one = Tasks::new(&g).task("pos", n.losses[0]);
    let e = eq.minimize(&opt, &one).unwrap_err();
    assert!(matches!(e, Error::TooFewTasks { .. }), "{e}");
    assert!(e.to_string().contains("pos"), "{e}");

    let dup = Tasks::new(&g)
        .task("pos", n.losses[0])
        .task("pos", n.losses[1]);
    let e = eq.minimize(&opt, &dup).unwrap_err();
    assert_eq!(e, Error::DuplicateTask { task: "pos".into() });

    let pred = matmul(n.feature, n.heads[0]);
    let e = eq
        .minimize(
            &opt,
            &Tasks::new(&g).task("a", n.losses[0]).task("vec", pred),
        )
        .unwrap_err();
    assert!(
        matches!(e, Error::NonScalarLoss { ref task, .. } if task == "vec"),
        "{e}"
    );

    let p = g.placeholder("p", [None]);
    let free = reduce_sum_all(p);
    let e = eq
        .minimize(
            &opt,
            &Tasks::new(&g).task("a", n.losses[0]).task("free", free),
        )
        .unwrap_err();
    assert!(
        matches!(e, Error::TaskWithoutVariables { ref task, .. } if task == "free"),
        "{e}"
    );
    assert!(e.to_string().contains("`free`"));

    let v1 = g.variable("solo1/w", init::ones(&[2]));
    let v2 = g.variable("solo2/w", init::ones(&[2]));
    let e = eq
        .minimize(
            &opt,
            &Tasks::new(&g)
                .task("s1", reduce_sum_all(v1))
                .task("s2", reduce_sum_all(v2)),
        )
        .unwrap_err();
    assert!(matches!(e, Error::NoSharedVariables { .. }), "{e}");
    assert!(e.to_string().contains("s1, s2"), "{e}");

    let e = mtl::by_name("pcgrd").unwrap_err();
    assert!(matches!(e, Error::UnknownStrategy { .. }));
    let msg = e.to_string();
    assert!(msg.contains("`pcgrd`"), "{msg}");
    for name in mtl::NAMES {
        assert!(msg.contains(name), "{msg} lacks {name}");
        assert!(mtl::by_name(name).is_ok(), "{name}");
    }
    assert!(mtl::by_name("cagrad:0.4").is_ok());
    assert!(mtl::by_name("mgda:loss+").is_ok());
    assert!(mtl::by_name("gls:3").is_err());
    assert!(mtl::by_name("dwa:hot").is_err());
}

/// Composes with clipping, a schedule and the global step: one step increments the step.
#[test]
fn composes_with_clipping_schedules_and_the_global_step() {
    let g = Graph::with_seed(5);
    let n = net(&g, 2);
    let step = get_or_create_global_step(&g).unwrap();
    let lr = exponential_decay(0.1, step, 10, 0.5, false);
    let opt = Momentum::new(lr, 0.9)
        .with_clip_norm(0.5)
        .with_global_step(step);
    let train = mtl::by_name("mean")
        .unwrap()
        .minimize(&opt, &tasks(&g, &n))
        .unwrap();
    let mut sess = Session::new(&g);
    sess.run(&[g.global_variables_initializer().into()], &[])
        .unwrap();
    let (x, ys) = batch(2, 8, 0);
    for _ in 0..3 {
        sess.run(&[train.clone().into()], &feeds(&n, &x, &ys))
            .unwrap();
    }
    let s = sess.variable_value(step).unwrap().as_i64().unwrap()[[]];
    assert_eq!(s, 3);
}

/// Two conflicting tasks: PCGrad's combined shared update (read off the variable after one
/// SGD step) has a non-negative inner product with both task gradients; the plain sum does not.
#[test]
fn two_task_pcgrad_update_agrees_with_both_gradients() {
    for name in ["pcgrad", "equal"] {
        let g = Graph::with_seed(5);
        let n = net(&g, 2);
        let lr = 0.01f32;
        let train = mtl::by_name(name)
            .unwrap()
            .minimize(&GradientDescent::new(lr), &tasks(&g, &n))
            .unwrap();
        let refs: Vec<Tensor<'_>> = (0..2)
            .map(|k| gradients(&[n.losses[k]], &[n.ws]).unwrap()[0].unwrap())
            .collect();
        let mut sess = Session::new(&g);
        sess.run(&[g.global_variables_initializer().into()], &[])
            .unwrap();
        let (x, mut ys) = batch(2, 16, 2);
        ys[1] = ys[0].mapv(|v| -10.0 * v);
        let f = feeds(&n, &x, &ys);
        let out = sess.run(&[refs[0].into(), refs[1].into()], &f).unwrap();
        let (g0, g1) = (out.f32(0).unwrap().clone(), out.f32(1).unwrap().clone());
        assert!((&g0 * &g1).sum() < 0.0, "the tasks must conflict");
        let before = value(&sess, n.ws);
        sess.run(&[train.into()], &f).unwrap();
        let d = (&before - &value(&sess, n.ws)) / lr;
        let (a, b) = ((&d * &g0).sum(), (&d * &g1).sum());
        let tol =
            1e-4 * (&d * &d).sum().sqrt() * (&g0 * &g0).sum().sqrt().max((&g1 * &g1).sum().sqrt());
        if name == "pcgrad" {
            assert!(a >= -tol && b >= -tol, "{a} {b}");
        } else {
            assert!(
                a < -tol || b < -tol,
                "the sum conflicts with one task: {a} {b}"
            );
        }
    }
}
