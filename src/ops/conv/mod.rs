//! 2-D convolution (TF1's `tf.nn.conv2d`, NHWC data, `[kh, kw, in_c, out_c]` filters), its two
//! backprop kernels, and `bias_add` with its column-sum gradient.
//!
//! # Files
//! - `mod.rs` (this file): the ops [`Conv2D`], [`Conv2DBiasAct`], [`Conv2DBackpropInput`],
//!   [`Conv2DBackpropFilter`], [`Invalid`], their builders, and the kernel entry points
//!   (`conv2d_forward`, `conv2d_backward_input`, `conv2d_backward_filter`) that pick a kernel.
//! - `geom.rs`: [`Padding`], output sizes and `Geom` (also used by `pool.rs`).
//! - `im2col.rs`: im2col/col2im and the GEMM kernels for all three passes.
//! - `direct.rs`: the direct AVX-512 kernels (x86-64 only).
//! - `winograd.rs`: Winograd F(2x2, 3x3) for stride-1 3x3 forward and input gradient.
//! - `bias.rs`: [`BiasAdd`], [`BiasAddGrad`], [`ReluGradPar`] and their loops.
//! - `runs.rs`: short-run copy/add and relu.
//!
//! # Kernels
//! Direct AVX-512 kernels (`direct.rs`; stride 1, `out_c` a multiple of 16, chosen at run
//! time when the CPU has AVX-512F):
//! - forward for few input channels (`in_c <= 4`, the first layer of an image net): one image
//!   per task, copied into a zero-padded scratch, 8 pixels × 16 channels in registers. No
//!   im2col of 3-float runs, no GEMM packing for `K = 75`. (For `in_c = 16` the GEMM wins, and
//!   Winograd for 3x3 windows.)
//! - filter gradient for `in_c <= 64`: one image range per pool thread with its own
//!   `[K, out_c]` partial; per image, window row and block of <= 16 taps the sums stay in
//!   registers over all pixels. Beats the transposed GEMM on recomputed columns on every
//!   layer of the reference net.
//!
//! Winograd F(2x2, 3x3) (`winograd.rs`; 3x3 window, stride 1, `in_c` and `out_c` >= 16): the
//! forward pass and the input gradient (a stride-1 convolution of `dy` with the rotated
//! filter), 16 instead of 36 multiplies per 2x2 outputs; on the reference net's conv2 and
//! conv3 it takes 60% (conv2) and 50-55% (conv3) of the GEMM path's time (numbers there).
//!
//! Otherwise, forward: im2col + GEMM `[rows, kh·kw·in_c] · [kh·kw·in_c, out_c]`, where `rows`
//! are the output pixels (image, oy, ox) of one *chunk*. Chunks are row ranges of the whole
//! batch's column matrix (they may split images) sized to about [`COLS_TARGET_BYTES`] so the
//! column matrix stays in L2 (4x larger chunks measured 2x slower); they run in parallel on
//! the rayon pool, each doing its own im2col and a single-threaded GEMM straight into its
//! rows of the output, then the bias (written before the GEMM accumulates onto it) and relu
//! of the fused [`Conv2DBiasAct`].
//! Backward: `dx` per chunk of whole images (`dcols = dy · filterᵀ`, then col2im into that
//! chunk's images, so no two tasks write the same memory); `dfilter = colsᵀ · dy` with the
//! columns recomputed per chunk ([`DFILTER_COLS_TARGET_BYTES`]), one partial `[K, out_c]` per
//! pool thread, summed at the end. Storing the forward columns instead would keep up to
//! 30 MB (the reference net's first layer at batch 64) alive between the passes.
//! A relu layer whose output only feeds a max pool takes its relu gradient inside the pool's
//! gradient (`MaxPoolGrad::relu_mask`, see `pool.rs`) instead of a separate `ReluGrad` pass.
//! The copy/max/mask loops are compiled per instruction-set tier and pick the best one at
//! run time (`ops::simd`; the crate is built for baseline x86-64).
//!
//! Reference net, batch 64, single-threaded (min per op, ms): conv1 fwd 2.25 / dfilter 2.25
//! (direct; were 4.3 / 4.3 via GEMM), conv2 fwd 4.15 / dx 4.2 / dfilter 3.3, conv3 fwd 3.6 /
//! dx 3.8 / dfilter 3.35, conv4 0.55 / 0.6 / 0.52; with Winograd conv2 fwd 2.5 / dx 2.5,
//! conv3 fwd 1.85 / dx 1.85. The GEMM layers run at ~85-100 GFLOP/s
//! and the direct kernels at ~110 GFLOP/s per core, close to one AVX-512 FMA per cycle.
//!
//! # Workspaces (no allocation per step)
//! The column matrices (and the direct kernels' padded images, Winograd's transformed
//! tiles) live in a thread-local `Vec<f32>` per pool thread that grows to the
//! largest chunk ever seen and is then reused; the per-group dfilter partials and
//! Winograd's transformed filters live in thread-locals of the calling (session) thread. Putting them in the op's output `Value`
//! would either waste liveness-managed slot memory for the whole run or need an extra op to
//! slice the real output out of a packed one; thread-locals cost nothing per step, are
//! shared by all conv nodes (only one runs at a time on a thread) and stay cache-warm. If a
//! workspace is already borrowed (a session run nested inside a conv task, which staticflow
//! never does) the kernel falls back to a temporary allocation instead of panicking.

mod bias;
#[cfg(target_arch = "x86_64")]
mod direct;
mod geom;
mod im2col;
mod runs;
mod winograd;

pub use bias::{bias_add, BiasAdd, BiasAddGrad, ReluGradPar};
pub use geom::Padding;
pub(crate) use geom::{static_out_dim, Geom, MAX_WINDOW};
pub use im2col::{COLS_TARGET_BYTES, DFILTER_COLS_TARGET_BYTES};

use super::{expect_f32, expect_operands, GradCtx, GradResult, KernelCtx, OpDef};
use crate::graph::{Shape, Tensor, TensorInfo, Value, ValueView};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;

thread_local! {
    static COLS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    static PARTIALS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// `out[n, oh, ow, oc] = act(conv(x, filter) + bias)`; `filter` is `[K, oc]` contiguous.
pub(crate) fn conv2d_forward(
    x: &[f32],
    g: &Geom,
    filter: &[f32],
    oc: usize,
    bias: Option<&[f32]>,
    relu: bool,
    out: &mut [f32],
) {
    if out.is_empty() {
        return;
    }
    if g.k() == 0 {
        // No input channels: every output is an empty sum, then the bias (as TF1 answers).
        for row in out.chunks_exact_mut(oc) {
            match bias {
                Some(b) => row.copy_from_slice(b),
                None => row.fill(0.0),
            }
            if relu {
                row.iter_mut()
                    .for_each(|v| *v = crate::ops::unary::relu_f32(*v));
            }
        }
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if direct::applies(g, oc, direct::FORWARD_MAX_C) {
        direct::forward(x, g, filter, oc, bias, relu, out);
        return;
    }
    if winograd::use_forward(g, oc) {
        winograd::forward(x, g, filter, oc, bias, relu, out);
        return;
    }
    im2col::forward(x, g, filter, oc, bias, relu, out);
}

/// `dx = conv2d_backprop_input(dy, filter)`; `dx` has `g`'s input shape.
pub(crate) fn conv2d_backward_input(
    dy: &[f32],
    g: &Geom,
    filter: &[f32],
    oc: usize,
    dx: &mut [f32],
) {
    if dx.is_empty() {
        return;
    }
    if winograd::use_backward_input(g, oc) {
        winograd::backward_input(dy, g, filter, oc, dx);
        return;
    }
    im2col::backward_input(dy, g, filter, oc, dx);
}

/// `dfilter = im2col(x)ᵀ · dy`, written to `df` (`[K, oc]`).
pub(crate) fn conv2d_backward_filter(x: &[f32], g: &Geom, dy: &[f32], oc: usize, df: &mut [f32]) {
    df.fill(0.0);
    if df.is_empty() || g.n == 0 || g.opix() == 0 {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if direct::applies(g, oc, direct::FILTER_MAX_C) {
        direct::filter_grad(x, g, dy, oc, df);
        return;
    }
    im2col::backward_filter(x, g, dy, oc, df);
}

/// 2-D convolution over NHWC input: `x [n, h, w, in_c]`, `filter [kh, kw, in_c, out_c]` ->
/// `[n, oh, ow, out_c]` (TF1's `tf.nn.conv2d`; no dilation).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conv2D {
    /// Strides along height and width.
    pub strides: [usize; 2],
    /// Padding scheme.
    pub padding: Padding,
}

/// Gradient of [`Conv2D`] with respect to its input. Inputs `(x, filter, dy)`; `x` is read
/// only for its shape. Output: `x`'s shape.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conv2DBackpropInput {
    /// Strides of the forward convolution.
    pub strides: [usize; 2],
    /// Padding of the forward convolution.
    pub padding: Padding,
}

/// Gradient of [`Conv2D`] with respect to its filter. Inputs `(x, filter, dy)`; `filter` is
/// read only for its shape. Output: `filter`'s shape.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conv2DBackpropFilter {
    /// Strides of the forward convolution.
    pub strides: [usize; 2],
    /// Padding of the forward convolution.
    pub padding: Padding,
}

fn conv_infer(
    i: &[&TensorInfo],
    strides: [usize; 2],
    padding: Padding,
    op: &str,
) -> Result<Shape, String> {
    if i.len() < 2 {
        return Err(format!("takes (input, filter), got {} operands", i.len()));
    }
    expect_f32(op, i[0])?;
    expect_f32(op, i[1])?;
    let (x, f) = (&i[0].shape, &i[1].shape);
    if x.rank() != 4 {
        return Err(format!(
            "input must be rank 4 [batch, height, width, channels], got {x}"
        ));
    }
    if f.rank() != 4 {
        return Err(format!(
            "filter must be rank 4 [kh, kw, in_channels, out_channels], got {f}"
        ));
    }
    if strides.iter().any(|&s| s == 0 || s > MAX_WINDOW) {
        return Err(format!(
            "strides must be in 1..={MAX_WINDOW}, got {strides:?}"
        ));
    }
    if let (Some(a), Some(b)) = (x.dim(3), f.dim(2)) {
        if a != b {
            return Err(format!(
                "input channels differ: the input has {a} channels (last axis), the filter expects {b} (axis 2)"
            ));
        }
    }
    let oh = static_out_dim(x.dim(1), f.dim(0), strides[0], padding)
        .map_err(|e| format!("height: {e}"))?;
    let ow = static_out_dim(x.dim(2), f.dim(1), strides[1], padding)
        .map_err(|e| format!("width: {e}"))?;
    Ok(Shape(vec![x.dim(0), oh, ow, f.dim(3)]))
}

/// Checks runtime shapes and returns the geometry and output channels.
fn conv_geom(
    x: &[usize],
    f: &[usize],
    strides: [usize; 2],
    padding: Padding,
) -> Result<(Geom, usize), String> {
    if f.len() != 4 || x.len() != 4 || x[3] != f[2] {
        return Err(format!(
            "input {x:?} and filter {f:?} do not fit (need [n, h, w, c] and [kh, kw, c, oc])"
        ));
    }
    Ok((Geom::new(x, [f[0], f[1]], strides, padding)?, f[3]))
}

impl OpDef for Conv2D {
    fn kind(&self) -> &'static str {
        "Conv2D"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_operands(i, &["input", "filter"])?;
        let s = conv_infer(i, self.strides, self.padding, "Conv2D")?;
        Ok(Some(TensorInfo::new(i[0].dtype, s)))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let (x, f) = (inputs[0].f32(), inputs[1].f32());
        let (g, oc) = conv_geom(x.shape(), f.shape(), self.strides, self.padding)?;
        let (x, f) = (x.as_standard_layout(), f.as_standard_layout());
        let o = out.f32_buffer(&[g.n, g.oh, g.ow, oc]);
        conv2d_forward(
            x.as_slice().expect("standard layout"),
            &g,
            f.as_slice().expect("standard layout"),
            oc,
            None,
            false,
            o.as_slice_mut().expect("buffers are contiguous"),
        );
        Ok(())
    }
    fn gradient<'g>(&self, c: &GradCtx<'g>) -> GradResult<'g> {
        let (x, f, dy) = (c.inputs[0], c.inputs[1], c.dy);
        let dx = c.graph.add(
            Conv2DBackpropInput {
                strides: self.strides,
                padding: self.padding,
            },
            &[x, f, dy],
        );
        let df = c.graph.add(
            Conv2DBackpropFilter {
                strides: self.strides,
                padding: self.padding,
            },
            &[x, f, dy],
        );
        Ok(vec![Some(dx), Some(df)])
    }
}

/// Checks `(x, filter, dy)` of a backprop op: dy must have the forward output's shape.
fn backprop_infer(
    i: &[&TensorInfo],
    strides: [usize; 2],
    padding: Padding,
    op: &str,
) -> Result<(), String> {
    expect_operands(i, &["input", "filter", "dy"])?;
    let y = conv_infer(i, strides, padding, op)?;
    expect_f32(op, i[2])?;
    if !y.compatible(&i[2].shape) {
        return Err(format!(
            "dy has shape {}, the convolution's output has {y}",
            i[2].shape
        ));
    }
    Ok(())
}

fn backprop_geom(
    inputs: &[ValueView],
    strides: [usize; 2],
    padding: Padding,
) -> Result<(Geom, usize), String> {
    let (x, f, dy) = (inputs[0].shape(), inputs[1].shape(), inputs[2].shape());
    let (g, oc) = conv_geom(x, f, strides, padding)?;
    if dy != [g.n, g.oh, g.ow, oc] {
        return Err(format!(
            "dy has shape {dy:?}, the convolution's output has {:?}",
            [g.n, g.oh, g.ow, oc]
        ));
    }
    Ok((g, oc))
}

impl OpDef for Conv2DBackpropInput {
    fn kind(&self) -> &'static str {
        "Conv2DBackpropInput"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        backprop_infer(i, self.strides, self.padding, "Conv2DBackpropInput")?;
        Ok(Some(i[0].clone()))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let (g, oc) = backprop_geom(inputs, self.strides, self.padding)?;
        let (f, dy) = (
            inputs[1].f32().as_standard_layout(),
            inputs[2].f32().as_standard_layout(),
        );
        let o = out.f32_buffer(&[g.n, g.h, g.w, g.c]);
        conv2d_backward_input(
            dy.as_slice().expect("standard layout"),
            &g,
            f.as_slice().expect("standard layout"),
            oc,
            o.as_slice_mut().expect("buffers are contiguous"),
        );
        Ok(())
    }
}

impl OpDef for Conv2DBackpropFilter {
    fn kind(&self) -> &'static str {
        "Conv2DBackpropFilter"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        backprop_infer(i, self.strides, self.padding, "Conv2DBackpropFilter")?;
        Ok(Some(i[1].clone()))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let (g, oc) = backprop_geom(inputs, self.strides, self.padding)?;
        let (x, dy) = (
            inputs[0].f32().as_standard_layout(),
            inputs[2].f32().as_standard_layout(),
        );
        let o = out.f32_buffer(inputs[1].shape());
        conv2d_backward_filter(
            x.as_slice().expect("standard layout"),
            &g,
            dy.as_slice().expect("standard layout"),
            oc,
            o.as_slice_mut().expect("buffers are contiguous"),
        );
        Ok(())
    }
}

/// 2-D convolution of NHWC `x [batch, h, w, in_c]` with `filter [kh, kw, in_c, out_c]` (TF
/// layout) -> `[batch, oh, ow, out_c]`, where `oh = ceil(h / stride)` for
/// [`Padding::Same`] and `(h - kh) / stride + 1` for [`Padding::Valid`] (likewise `ow`).
///
/// A channel mismatch or a VALID window larger than the input is a build error naming both
/// operands and their shapes.
pub fn conv2d<'g>(
    x: Tensor<'g>,
    filter: Tensor<'g>,
    strides: [usize; 2],
    padding: Padding,
) -> Tensor<'g> {
    x.graph().add(Conv2D { strides, padding }, &[x, filter])
}

/// `conv2d` + `bias_add` (+ `relu`) in one kernel, as the convolution layer builds it: inputs
/// `(x [n, h, w, in_c], filter [kh, kw, in_c, out_c], bias [out_c])` -> `[n, oh, ow, out_c]`.
/// The bias is written before the GEMM accumulates onto it and the relu runs on each chunk
/// while it is in cache, saving two passes over the output. Gradients are those of the
/// unfused ops.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conv2DBiasAct {
    /// Strides along height and width.
    pub strides: [usize; 2],
    /// Padding scheme.
    pub padding: Padding,
    /// Apply `relu` after adding the bias.
    pub relu: bool,
}

impl OpDef for Conv2DBiasAct {
    fn kind(&self) -> &'static str {
        "Conv2DBiasAct"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_operands(i, &["input", "filter", "bias"])?;
        let s = conv_infer(i, self.strides, self.padding, "Conv2DBiasAct")?;
        expect_f32("Conv2DBiasAct", i[2])?;
        let b = &i[2].shape;
        if b.rank() != 1 || (b.dim(0).is_some() && s.dim(3).is_some() && b.dim(0) != s.dim(3)) {
            return Err(format!(
                "bias must be [out_channels] = [{}], got {b}",
                s.dim(3).map_or("?".into(), |d| d.to_string())
            ));
        }
        Ok(Some(TensorInfo::new(i[0].dtype, s)))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let (x, f, b) = (inputs[0].f32(), inputs[1].f32(), inputs[2].f32());
        let (g, oc) = conv_geom(x.shape(), f.shape(), self.strides, self.padding)?;
        if b.shape() != [oc] {
            return Err(format!("bias {:?} must be [{oc}]", b.shape()));
        }
        let (x, f, b) = (
            x.as_standard_layout(),
            f.as_standard_layout(),
            b.as_standard_layout(),
        );
        let o = out.f32_buffer(&[g.n, g.oh, g.ow, oc]);
        conv2d_forward(
            x.as_slice().expect("standard layout"),
            &g,
            f.as_slice().expect("standard layout"),
            oc,
            Some(b.as_slice().expect("standard layout")),
            self.relu,
            o.as_slice_mut().expect("buffers are contiguous"),
        );
        Ok(())
    }
    fn gradient<'g>(&self, c: &GradCtx<'g>) -> GradResult<'g> {
        let (x, f) = (c.inputs[0], c.inputs[1]);
        let dz = if !self.relu {
            c.dy
        } else if let Some(dz) = relu_masked_pool_grad(c) {
            dz
        } else {
            c.graph.add(ReluGradPar, &[c.dy, c.output])
        };
        let (strides, padding) = (self.strides, self.padding);
        let dx = c
            .graph
            .add(Conv2DBackpropInput { strides, padding }, &[x, f, dz]);
        let df = c
            .graph
            .add(Conv2DBackpropFilter { strides, padding }, &[x, f, dz]);
        let db = c.graph.add(BiasAddGrad, &[dz]);
        Ok(vec![Some(dx), Some(df), Some(db)])
    }
}

/// If `c.dy` is exactly a plain `MaxPoolGrad` of this relu layer's output (the layer feeds
/// only a max pool), a copy of it with `relu_mask` set: `relu_grad(dy)` without the extra pass.
fn relu_masked_pool_grad<'g>(c: &GradCtx<'g>) -> Option<Tensor<'g>> {
    let node = c.graph.node(c.dy.index());
    match &node.op {
        super::Op::MaxPoolGrad(p)
            if !p.relu_mask && node.error.is_none() && node.inputs[0] == c.output.index() =>
        {
            let ins: Vec<Tensor<'g>> = node
                .inputs
                .iter()
                .map(|&i| Tensor::from_index(c.graph, i))
                .collect();
            let p = super::pool::MaxPoolGrad {
                relu_mask: true,
                ..p.clone()
            };
            Some(c.graph.add(p, &ins))
        }
        _ => None,
    }
}

/// `act(conv2d(x, filter) + bias)` as one node (see [`Conv2DBiasAct`]); `relu` selects the
/// activation (none otherwise).
pub fn conv2d_bias_act<'g>(
    x: Tensor<'g>,
    filter: Tensor<'g>,
    bias: Tensor<'g>,
    strides: [usize; 2],
    padding: Padding,
    relu: bool,
) -> Tensor<'g> {
    x.graph().add(
        Conv2DBiasAct {
            strides,
            padding,
            relu,
        },
        &[x, filter, bias],
    )
}

/// A node that always fails to build with `reason`: how builders that are not ops (layers)
/// report bad arguments as ordinary build errors, naming the offending operands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Invalid {
    /// What is wrong.
    pub reason: String,
}

impl OpDef for Invalid {
    fn kind(&self) -> &'static str {
        "Invalid"
    }
    fn takes_bool(&self) -> bool {
        true
    }
    fn infer(&self, _: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        Err(self.reason.clone())
    }
    fn compute(&self, _: &mut KernelCtx, _: &[ValueView], _: &mut Value) -> Result<(), String> {
        Err(self.reason.clone())
    }
}

/// A poisoned tensor whose build error is `reason`, listing `operands`.
pub(crate) fn invalid<'g>(operands: &[Tensor<'g>], reason: String, name: &str) -> Tensor<'g> {
    operands[0]
        .graph()
        .add_named(Invalid { reason }, operands, Some(name))
}
