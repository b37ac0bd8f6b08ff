//! Ops that move elements by a per-axis index map: `tile`, `pad` (constant, reflect,
//! symmetric) and `reverse` (TF1's `tf.tile`, `tf.pad`, `tf.reverse`).
//!
//! Each output position reads, on every axis independently, one input position (or none: a
//! constant pad), so all three share one kernel and one gradient: [`RemapGrad`] adds each
//! element of `dy` into the input position it was read from (tiles and reflections sum).

use super::array::{contiguous, norm_axis, Elem};
use super::{expect_arity, GradCtx, GradResult, KernelCtx, OpDef};
use crate::graph::{DType, Dims, Shape, Tensor, TensorInfo, Value, ValueView};
use ndarray::ArrayViewD;
use serde::{Deserialize, Serialize};

/// How [`pad`] fills the new positions (TF1's `mode` of `tf.pad`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum PadMode {
    /// A constant (`constant_values`); for i64 it must be an integer, for bool 0 or 1.
    Constant(f32),
    /// Mirror without repeating the edge: `[1, 2, 3]` padded by 2 -> `[3, 2, 1, 2, 3, 2, 1]`.
    /// Paddings must be below the dimension.
    Reflect,
    /// Mirror repeating the edge: `[1, 2, 3]` padded by 2 -> `[2, 1, 1, 2, 3, 3, 2]`.
    /// Paddings must not exceed the dimension.
    Symmetric,
}

/// A per-axis remap: what [`tile`], [`pad`] and [`reverse`] build.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Remap {
    /// Repeats the tensor `multiples[k]` times along axis `k` (TF1's `Tile`).
    Tile {
        /// One multiple per axis.
        multiples: Vec<usize>,
    },
    /// Adds `paddings[k] = [before, after]` positions on axis `k` (TF1's `Pad`/`MirrorPad`).
    Pad {
        /// One `[before, after]` per axis.
        paddings: Vec<[usize; 2]>,
        /// What the new positions hold.
        mode: PadMode,
    },
    /// Reverses the listed axes (negative count from the end; TF1's `ReverseV2`).
    Reverse {
        /// Axes to reverse, each at most once.
        axes: Vec<i64>,
    },
}

/// Marks an output position that reads no input (a constant pad).
const NONE: usize = usize::MAX;

impl Remap {
    fn name(&self) -> &'static str {
        match self {
            Remap::Tile { .. } => "Tile",
            Remap::Pad {
                mode: PadMode::Constant(_),
                ..
            } => "Pad",
            Remap::Pad { .. } => "MirrorPad",
            Remap::Reverse { .. } => "ReverseV2",
        }
    }

    /// Checks the spec against the rank; returns the reversed axes (others: empty).
    fn check(&self, rank: usize) -> Result<Vec<bool>, String> {
        let mut flip = vec![false; rank];
        match self {
            Remap::Tile { multiples } if multiples.len() != rank => Err(format!(
                "multiples {multiples:?} must have one entry per axis (rank {rank})"
            )),
            Remap::Pad { paddings, .. } if paddings.len() != rank => Err(format!(
                "paddings {paddings:?} must have one [before, after] per axis (rank {rank})"
            )),
            Remap::Pad {
                mode: PadMode::Constant(v),
                ..
            } if !v.is_finite() => Err(format!("the constant pad value {v} is not finite")),
            Remap::Reverse { axes } => {
                for &a in axes {
                    let k = norm_axis(a, rank)?;
                    if flip[k] {
                        return Err(format!("axis {a} is reversed more than once in {axes:?}"));
                    }
                    flip[k] = true;
                }
                Ok(flip)
            }
            _ => Ok(flip),
        }
    }

    /// The output dimension on axis `k` for an input dimension `d`, checking mirror paddings.
    fn out_dim(&self, k: usize, d: usize) -> Result<usize, String> {
        match self {
            Remap::Tile { multiples } => d.checked_mul(multiples[k]).ok_or_else(|| {
                format!("tiling axis {k} of size {d} by {} overflows", multiples[k])
            }),
            Remap::Pad { paddings, mode } => {
                let [b, a] = paddings[k];
                let limit = match mode {
                    PadMode::Constant(_) => usize::MAX,
                    PadMode::Reflect => d.saturating_sub(1),
                    PadMode::Symmetric => d,
                };
                if b > limit || a > limit {
                    let need = if *mode == PadMode::Reflect {
                        "less than"
                    } else {
                        "at most"
                    };
                    return Err(format!(
                        "paddings [{b}, {a}] on axis {k} must be {need} the dimension {d} in {mode:?} mode"
                    ));
                }
                d.checked_add(b)
                    .and_then(|n| n.checked_add(a))
                    .ok_or_else(|| format!("padding axis {k} overflows"))
            }
            Remap::Reverse { .. } => Ok(d),
        }
    }

    /// For each axis, the input position each output position reads ([`NONE`]: a constant).
    fn maps(&self, shape: &[usize]) -> Result<Vec<Vec<usize>>, String> {
        let flip = self.check(shape.len())?;
        let mut total = 1usize;
        let mut maps = Vec::with_capacity(shape.len());
        for (k, &d) in shape.iter().enumerate() {
            let n = self.out_dim(k, d)?;
            total = total
                .checked_mul(n)
                .filter(|&t| t <= isize::MAX as usize / 8)
                .ok_or_else(|| format!("the output of {:?} on {shape:?} is too large", self))?;
            let map = (0..n).map(|j| match self {
                Remap::Tile { .. } => j % d,
                Remap::Reverse { .. } if flip[k] => d - 1 - j,
                Remap::Reverse { .. } => j,
                Remap::Pad { paddings, mode } => {
                    let i = j as isize - paddings[k][0] as isize;
                    let d = d as isize;
                    let src = match mode {
                        _ if (0..d).contains(&i) => i,
                        PadMode::Constant(_) => return NONE,
                        PadMode::Reflect if i < 0 => -i,
                        PadMode::Reflect => 2 * (d - 1) - i,
                        PadMode::Symmetric if i < 0 => -i - 1,
                        PadMode::Symmetric => 2 * d - 1 - i,
                    };
                    src as usize
                }
            });
            maps.push(map.collect());
        }
        Ok(maps)
    }
}

/// Visits every output position in row-major order with the flat input offset it reads
/// (`None` for a constant). `maps` come from [`Remap::maps`] for an input of `shape`.
fn for_each_source(maps: &[Vec<usize>], shape: &[usize], mut f: impl FnMut(usize, Option<usize>)) {
    let rank = shape.len();
    let mut strides = vec![1usize; rank];
    for k in (0..rank.saturating_sub(1)).rev() {
        strides[k] = strides[k + 1] * shape[k + 1];
    }
    // Per axis, each output position's offset contribution (NONE for a constant).
    let offs: Vec<Vec<usize>> = maps
        .iter()
        .zip(&strides)
        .map(|(m, &s)| {
            m.iter()
                .map(|&i| if i == NONE { NONE } else { i * s })
                .collect()
        })
        .collect();
    let out_len: usize = maps.iter().map(|m| m.len()).product();
    if out_len == 0 {
        return;
    }
    if rank == 0 {
        f(0, Some(0));
        return;
    }
    let inner = &offs[rank - 1];
    let mut idx = vec![0usize; rank - 1];
    let mut pos = 0;
    loop {
        let base = idx
            .iter()
            .zip(&offs)
            .try_fold(0usize, |b, (&j, o)| (o[j] != NONE).then(|| b + o[j]));
        for &o in inner {
            f(pos, base.filter(|_| o != NONE).map(|b| b + o));
            pos += 1;
        }
        // Odometer over the outer axes.
        let mut k = rank - 1;
        loop {
            if k == 0 {
                return;
            }
            k -= 1;
            idx[k] += 1;
            if idx[k] < offs[k].len() {
                break;
            }
            idx[k] = 0;
        }
    }
}

fn remap_kernel<T: Elem>(
    x: &ArrayViewD<T>,
    spec: &Remap,
    fill: T,
    out: &mut Value,
) -> Result<(), String> {
    let maps = spec.maps(x.shape())?;
    let shape: Dims = maps.iter().map(|m| m.len()).collect();
    let src = contiguous(x);
    let o = T::buffer(out, &shape);
    let o = o.as_slice_mut().expect("buffers are contiguous");
    for_each_source(&maps, x.shape(), |k, s| o[k] = s.map_or(fill, |s| src[s]));
    Ok(())
}

/// The constant of a pad in dtype `dtype`, checked to be representable.
fn pad_value(spec: &Remap, dtype: DType) -> Result<f32, String> {
    let Remap::Pad {
        mode: PadMode::Constant(v),
        ..
    } = spec
    else {
        return Ok(0.0);
    };
    let ok = match dtype {
        DType::I64 => v.fract() == 0.0 && v.abs() < 9.2e18,
        DType::Bool => *v == 0.0 || *v == 1.0,
        _ => true,
    };
    if !ok {
        return Err(format!("the pad value {v} is not a {dtype}"));
    }
    Ok(*v)
}

impl OpDef for Remap {
    fn kind(&self) -> &'static str {
        self.name()
    }
    fn takes_bool(&self) -> bool {
        true
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_arity(i, 1)?;
        if i[0].dtype == DType::Bytes {
            return Err(super::NO_BYTES.into());
        }
        pad_value(self, i[0].dtype)?;
        self.check(i[0].shape.rank())?;
        let dims = i[0].shape.0.iter().enumerate().map(|(k, d)| match d {
            Some(d) => self.out_dim(k, *d).map(Some),
            None => match self {
                Remap::Tile { multiples } if multiples[k] == 0 => Ok(Some(0)),
                _ => Ok(None),
            },
        });
        Ok(Some(TensorInfo::new(
            i[0].dtype,
            Shape(dims.collect::<Result<_, _>>()?),
        )))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let v = pad_value(self, inputs[0].dtype())?;
        match &inputs[0] {
            ValueView::F32(x) => remap_kernel(x, self, v, out),
            ValueView::I64(x) => remap_kernel(x, self, v as i64, out),
            ValueView::Bool(x) => remap_kernel(x, self, v != 0.0, out),
            ValueView::Bytes(_) => Err(super::NO_BYTES.into()),
        }
    }
    fn gradient<'g>(&self, c: &GradCtx<'g>) -> GradResult<'g> {
        let dx = c
            .graph
            .add(RemapGrad { of: self.clone() }, &[c.dy, c.inputs[0]]);
        Ok(vec![Some(dx)])
    }
}

/// The gradient of a [`Remap`]: zeros shaped like `x`, with every element of `dy` added to
/// the position of `x` it was read from. Inputs `(dy, x)`; only `x`'s runtime shape is read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RemapGrad {
    /// The forward op.
    pub of: Remap,
}

impl OpDef for RemapGrad {
    fn kind(&self) -> &'static str {
        match self.of {
            Remap::Tile { .. } => "TileGrad",
            Remap::Pad { .. } => "PadGrad",
            Remap::Reverse { .. } => "ReverseGrad",
        }
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_arity(i, 2)?;
        super::expect_f32(self.kind(), i[0])?;
        let fwd = self.of.infer(&[i[1]])?.expect("remaps have an output");
        if !fwd.shape.compatible(&i[0].shape) {
            return Err(format!(
                "gradient shape {} differs from the output shape {}",
                i[0].shape, fwd.shape
            ));
        }
        Ok(Some(TensorInfo::new(DType::F32, i[1].shape.clone())))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let dy = inputs[0].f32();
        let like = inputs[1].shape();
        let maps = self.of.maps(like)?;
        if dy
            .shape()
            .iter()
            .ne(maps.iter().map(|m| m.len()).collect::<Dims>().iter())
        {
            return Err(format!(
                "gradient shape {:?} differs from the output shape",
                dy.shape()
            ));
        }
        let d = contiguous(dy);
        let o = out.f32_buffer(like);
        let o = o.as_slice_mut().expect("buffers are contiguous");
        o.fill(0.0);
        for_each_source(&maps, like, |k, s| {
            if let Some(s) = s {
                o[s] += d[k];
            }
        });
        Ok(())
    }
}

/// Repeats `x` `multiples[k]` times along each axis `k` (TF1's `tf.tile`): `[a, b]` with
/// multiples `[m, n]` -> `[a*m, b*n]`. f32, i64 or bool; the gradient sums the copies.
pub fn tile<'g>(x: Tensor<'g>, multiples: &[usize]) -> Tensor<'g> {
    x.graph().add(
        Remap::Tile {
            multiples: multiples.to_vec(),
        },
        &[x],
    )
}

/// Pads `x` with `paddings[k] = [before, after]` positions on each axis `k` (TF1's `tf.pad`):
/// `[a, b]` with `[[1, 1], [0, 2]]` -> `[a+2, b+2]`. [`PadMode::Reflect`] needs paddings below
/// the dimension, [`PadMode::Symmetric`] at most the dimension (build error if known, else
/// runtime error). The gradient crops, and for mirror modes adds the mirrored positions back.
pub fn pad<'g>(x: Tensor<'g>, paddings: &[[usize; 2]], mode: PadMode) -> Tensor<'g> {
    x.graph().add(
        Remap::Pad {
            paddings: paddings.to_vec(),
            mode,
        },
        &[x],
    )
}

/// Reverses `x` along `axes` (negative count from the end; TF1's `tf.reverse`); same shape.
/// An axis listed twice is an error, as in TF1.
pub fn reverse<'g>(x: Tensor<'g>, axes: &[i64]) -> Tensor<'g> {
    x.graph().add(
        Remap::Reverse {
            axes: axes.to_vec(),
        },
        &[x],
    )
}
