//! The multi-task toolkit: loss- and gradient-level task balancing on any graph, each step
//! compiled into one plan.
//!
//! ```
//! use staticflow::prelude::*;
//! use staticflow::mtl::{self, Strategy};
//! # fn main() -> staticflow::Result<()> {
//! let g = Graph::with_seed(0);
//! let x = g.placeholder("x", [None, Some(3)]);
//! let h = relu(matmul(x, g.variable("shared/w", init::glorot_uniform(&[3, 8]))));
//! let pos_loss = l2_loss(matmul(h, g.variable("pos/w", init::glorot_uniform(&[8, 1]))));
//! let chunk_loss = l2_loss(matmul(h, g.variable("chunk/w", init::glorot_uniform(&[8, 1]))));
//!
//! let tasks = mtl::Tasks::new(&g).task("pos", pos_loss).task("chunk", chunk_loss);
//! let train = mtl::PcGrad::default().minimize(&Adam::new(1e-3), &tasks)?; // or mtl::by_name("cagrad")?
//! let cosines = train.diagnostics.unwrap().cosines; // [T, T], fetchable
//!
//! let mut sess = Session::new(&g);
//! sess.run(&[g.global_variables_initializer().into()], &[])?;
//! let xs = ndarray::Array2::<f32>::ones((4, 3));
//! sess.run(&[train.into(), cosines.into()], &[(x, (&xs).into())])?;
//! # Ok(()) }
//! ```
//!
//! [`Tasks`] holds named scalar losses with their [`TaskKind`]; the trainable variables on the
//! path of two or more tasks are *shared*, those on exactly one are *specific* to it
//! ([`Tasks::partition`], overridable with [`Tasks::shared`]). A [`Strategy`] builds the train
//! step: loss-level ones train on a weighted total loss; gradient-level ones take one gradient
//! per task of the shared variables (the forward pass is built once and shared by all of them),
//! the T x T Gram matrix, an aggregator's weights ([`crate::ops::aggregate`], small solvers as
//! ops), the combined gradient, and apply it with the task-specific gradients (each task's own,
//! unweighted, as LibMTL and TorchJD do) in one `apply_gradients`: one op, one cached plan per
//! `Session::run`. Every strategy composes with every optimizer, `with_clip_norm`, tensor
//! learning rates (schedules) and `with_global_step`. The returned [`Train`] exposes the
//! losses, the weights used and [`Diagnostics`] (per-task gradient norms, cosines, Gram) as
//! fetchable tensors. State lives in variables, so [`crate::train::Saver`] checkpoints it.
//!
//! | name | strategy | paper | reference matched | state (variables) | cost per step |
//! |---|---|---|---|---|---|
//! | `equal` | [`Fixed::equal`] | sum of losses | LibMTL EW | - | 1 backward |
//! | `fixed:1,10` | [`Fixed`] | fixed weights | - | - | 1 backward |
//! | `uncertainty[:speed]` | [`Uncertainty`] | Kendall et al. 2018 | paper (factors 1/2, 1) | log-variances (trained) | 1 backward |
//! | `dwa[:T]` | [`Dwa`] | Liu et al. 2019 | paper, periods of steps | loss sums, last two period means | 1 backward |
//! | `gls` | [`Gls`] | Chennupati et al. 2019 | LibMTL GLS | - | 1 backward |
//! | `rlw` | [`Rlw`] | Lin et al. 2022 | LibMTL RLW (softmax of N(0, I)) | step counter | 1 backward |
//! | `gradnorm[:alpha]` | [`GradNorm`] | Chen et al. 2018 | paper (last shared layer) | weights, initial losses | 1 + T backward to the last shared layer |
//! | `mean` | [`Mean`] | mean of gradients | TorchJD Mean | - | T backward |
//! | `pcgrad` | [`PcGrad`] | Yu et al. 2020 | TorchJD PCGrad | - | T backward + T x T projections |
//! | `mgda` | [`Mgda`] | Sener and Koltun 2018 | TorchJD MGDA (+ LibMTL normalisations) | - | T backward + Frank-Wolfe on T x T |
//! | `cagrad[:c]` | [`CaGrad`] | Liu et al. 2021 | TorchJD CAGrad | - | T backward + dual on T x T |
//! | `imtl_g` | [`ImtlG`] | Liu et al. 2021 | TorchJD IMTLG | - | T backward + T x T pseudo-inverse |
//! | `aligned_mtl` | [`AlignedMtl`] | Senushkin et al. 2023 | TorchJD AlignedMTL | - | T backward + T x T eigen |
//! | `upgrad` | [`UpGrad`] | Quinton and Rey 2024 | TorchJD UPGrad | - | T backward + T QPs on T x T |
//! | `gradvac[:beta]` | [`GradVac`] | Wang et al. 2021 | TorchJD GradVac | EMA of cosines `[T, T]` | T backward + T x T |
//! | `nash_mtl` | [`NashMtl`] | Navon et al. 2022 | TorchJD NashMTL (solved exactly by Newton) | - | T backward + T x T Newton |
//!
//! Data-parallel training (`crate::distributed`): give [`Strategy::minimize`] a
//! `DistributedOptimizer` (or the task set an [`crate::ops::collective::Allreduce`] with
//! [`Tasks::with_allreduce`]) and every strategy reduces across ranks what its non-linear
//! part needs before using it: the per-task gradients, task-specific gradients and losses of
//! the gradient-level ones (one fused allreduce; with `rep_grad`, the Gram matrix), the losses
//! behind DWA's history, GLS's weights and GradNorm's targets. Every rank then computes the
//! same weights and update as one process with the global batch.
//!
//! "T backward" means T backward passes through the shared part; with [`Tasks::rep_grad`]
//! (MGDA, IMTL-G, Aligned-MTL, GradNorm, mean) they stop at a shared representation and one
//! more backward pass runs through the encoder. The aggregators' exact definitions, defaults
//! and documented differences from the references are on [`crate::ops::aggregate::Aggregator`].

mod compare;
mod dwa;
mod gradient;
mod gradnorm;
mod loss;
mod strategy;
mod tasks;

pub use compare::{delta_m, mean_off_diagonal, TaskMetric};
pub use dwa::Dwa;
pub use gradient::{AlignedMtl, CaGrad, GradVac, ImtlG, Mean, Mgda, NashMtl, PcGrad, UpGrad};
pub use gradnorm::GradNorm;
pub use loss::{Fixed, Gls, Rlw, Uncertainty};
pub use strategy::{Combined, Diagnostics, Strategy, Train};
pub use tasks::{Partition, Task, TaskKind, Tasks};

use crate::error::{Error, Result};

/// Every strategy name [`by_name`] accepts (arguments after `:` where the table shows them).
pub const NAMES: [&str; 16] = [
    "equal",
    "fixed",
    "uncertainty",
    "dwa",
    "gls",
    "rlw",
    "gradnorm",
    "mean",
    "pcgrad",
    "mgda",
    "cagrad",
    "imtl_g",
    "aligned_mtl",
    "upgrad",
    "gradvac",
    "nash_mtl",
];

/// The strategy called `name`, with the references' defaults, or with one argument after a
/// colon: `fixed:1,10` (weights), `uncertainty:10` (speed), `dwa:2` (temperature),
/// `gradnorm:1.5` (alpha), `cagrad:0.4` (c), `gradvac:0.5` (beta), `mgda:l2` (normalisation
/// `none|l2|loss|loss+`). Errors with [`Error::UnknownStrategy`] listing the valid names.
pub fn by_name(name: &str) -> Result<Box<dyn Strategy>> {
    let (base, arg) = match name.split_once(':') {
        Some((n, a)) => (n, Some(a)),
        None => (name, None),
    };
    let bad = || Error::UnknownStrategy {
        name: name.to_string(),
        valid: NAMES.iter().map(|s| s.to_string()).collect(),
    };
    let num = |a: &str| a.trim().parse::<f32>().map_err(|_| bad());
    let arg_num = |d: f32| arg.map(num).transpose().map(|v| v.unwrap_or(d));
    let no_arg = || if arg.is_some() { Err(bad()) } else { Ok(()) };
    Ok(match base {
        "equal" => {
            no_arg()?;
            Box::new(Fixed::equal())
        }
        "fixed" => Box::new(Fixed::new(match arg {
            Some(a) => a.split(',').map(num).collect::<Result<_>>()?,
            None => vec![],
        })),
        "uncertainty" => Box::new(Uncertainty {
            speed: arg_num(1.0)?,
        }),
        "dwa" => Box::new(Dwa {
            temperature: arg_num(2.0)?,
            ..Dwa::default()
        }),
        "gls" => {
            no_arg()?;
            Box::new(Gls)
        }
        "rlw" => {
            no_arg()?;
            Box::new(Rlw)
        }
        "gradnorm" => Box::new(GradNorm {
            alpha: arg_num(1.5)?,
        }),
        "mean" => {
            no_arg()?;
            Box::new(Mean::default())
        }
        "pcgrad" => {
            no_arg()?;
            Box::new(PcGrad::default())
        }
        "mgda" => {
            use crate::ops::aggregate::MgdaNormalization as N;
            let normalization = match arg {
                None | Some("none") => N::None,
                Some("l2") => N::L2,
                Some("loss") => N::Loss,
                Some("loss+") => N::LossPlus,
                Some(_) => return Err(bad()),
            };
            Box::new(Mgda {
                normalization,
                ..Mgda::default()
            })
        }
        "cagrad" => Box::new(CaGrad { c: arg_num(0.5)? }),
        "imtl_g" => {
            no_arg()?;
            Box::new(ImtlG::default())
        }
        "aligned_mtl" => {
            no_arg()?;
            Box::new(AlignedMtl::default())
        }
        "upgrad" => {
            no_arg()?;
            Box::new(UpGrad::default())
        }
        "gradvac" => Box::new(GradVac {
            beta: arg_num(0.5)?,
        }),
        "nash_mtl" => {
            no_arg()?;
            Box::new(NashMtl::default())
        }
        _ => return Err(bad()),
    })
}
