//! Summary ops (TF1's `tf.summary.*`): each computes a serialized `Summary` protobuf as a
//! scalar [`DType::Bytes`] tensor that a run fetches and a [`FileWriter`](super::FileWriter)
//! writes. Tags are prefixed with the current name scope, as in TF1.

use super::encode::{histogram_value, image_values, scalar_value, text_value};
use super::proto::Summary;
use crate::graph::{DType, Graph, Shape, Tensor, TensorInfo, Value, ValueView};
use crate::ops::{KernelCtx, Op, OpDef};
use ndarray::Ix4;
use prost::Message;
use serde::{Deserialize, Serialize};

/// What one summary op records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum SummaryKind {
    /// A one-element f32 or i64 tensor as a scalar.
    Scalar,
    /// All elements of an f32 or i64 tensor as a histogram.
    Histogram,
    /// The first `max_outputs` images of an f32 `[n, h, w, 1|3|4]` batch, as PNGs.
    Image {
        /// How many images of the batch to record.
        max_outputs: usize,
    },
    /// A fixed text (Markdown) with no operand.
    Text {
        /// The text.
        text: String,
    },
}

/// One tagged summary of one operand (or of none, for text).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SummaryOp {
    /// The full tag, scope included.
    pub tag: String,
    /// What is recorded.
    pub kind: SummaryKind,
}

/// Concatenates serialized summaries into one (TF1's `MergeSummary`); tags must be distinct.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MergeSummary;

fn bytes_info() -> TensorInfo {
    TensorInfo::new(DType::Bytes, Shape::scalar())
}

impl OpDef for SummaryOp {
    fn kind(&self) -> &'static str {
        match self.kind {
            SummaryKind::Scalar => "ScalarSummary",
            SummaryKind::Histogram => "HistogramSummary",
            SummaryKind::Image { .. } => "ImageSummary",
            SummaryKind::Text { .. } => "TextSummary",
        }
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        let numeric = |x: &TensorInfo| {
            if x.dtype == DType::F32 || x.dtype == DType::I64 {
                Ok(())
            } else {
                Err(format!("needs an f32 or i64 operand, got {}", x.dtype))
            }
        };
        match (&self.kind, i) {
            (SummaryKind::Scalar, [x]) => {
                numeric(x)?;
                match x.shape.num_elements() {
                    Some(1) | None => {}
                    Some(n) => return Err(format!("needs a one-element operand, got {n}")),
                }
            }
            (SummaryKind::Histogram, [x]) => numeric(x)?,
            (SummaryKind::Image { max_outputs }, [x]) => {
                if *max_outputs == 0 {
                    return Err("max_outputs must be at least 1".into());
                }
                if x.dtype != DType::F32 {
                    return Err(format!("needs f32 images, got {}", x.dtype));
                }
                if x.shape.rank() != 4 {
                    return Err(format!("needs images [n, h, w, c], got {}", x.shape));
                }
                if let Some(c) = x.shape.dim(3).filter(|c| !matches!(c, 1 | 3 | 4)) {
                    return Err(format!("images need 1, 3 or 4 channels, got {c}"));
                }
            }
            (SummaryKind::Text { .. }, []) => {}
            (_, i) => return Err(format!("wrong operand count {}", i.len())),
        }
        Ok(Some(bytes_info()))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let values = |x: &ValueView| -> Vec<f32> {
            match x {
                ValueView::F32(a) => a.iter().copied().collect(),
                ValueView::I64(a) => a.iter().map(|&v| v as f32).collect(),
                // Never reached: the graph keeps bool operands from summary ops.
                ValueView::Bool(_) => vec![],
                ValueView::Bytes(_) => vec![],
            }
        };
        let value = match &self.kind {
            SummaryKind::Scalar => {
                let v = values(&inputs[0]);
                let [x] = v[..] else {
                    return Err(format!(
                        "needs one element, got shape {:?}",
                        inputs[0].shape()
                    ));
                };
                vec![scalar_value(&self.tag, x)]
            }
            SummaryKind::Histogram => {
                vec![histogram_value(&self.tag, values(&inputs[0]).into_iter())]
            }
            SummaryKind::Image { max_outputs } => {
                let x = inputs[0].f32().view().into_dimensionality::<Ix4>();
                image_values(&self.tag, x.map_err(|e| e.to_string())?, *max_outputs)?
            }
            SummaryKind::Text { text } => vec![text_value(&self.tag, text)],
        };
        let buf = out.bytes_buffer();
        Summary { value }
            .encode(buf)
            .map_err(|e| format!("encoding failed: {e}"))
    }
}

impl OpDef for MergeSummary {
    fn kind(&self) -> &'static str {
        "MergeSummary"
    }
    fn takes_bytes(&self) -> bool {
        true
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        if let Some(x) = i.iter().find(|x| x.dtype != DType::Bytes) {
            return Err(format!("merges summaries (bytes), got {}", x.dtype));
        }
        Ok(Some(bytes_info()))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let mut tags = std::collections::HashSet::new();
        for x in inputs {
            let s = Summary::decode(x.bytes()).map_err(|e| format!("not a summary: {e}"))?;
            if let Some(v) = s.value.iter().find(|v| !tags.insert(v.tag.clone())) {
                return Err(format!("duplicate tag `{}`", v.tag));
            }
        }
        // Protobuf concatenation of two messages is their merge: repeated values append.
        let buf = out.bytes_buffer();
        for x in inputs {
            buf.extend_from_slice(x.bytes());
        }
        Ok(())
    }
}

fn add_summary<'g>(
    g: &'g Graph,
    name: &str,
    kind: SummaryKind,
    inputs: &[Tensor<'g>],
) -> Tensor<'g> {
    let tag = format!("{}{name}", g.current_scope());
    g.add_named(SummaryOp { tag, kind }, inputs, Some(name))
}

/// A scalar summary of a one-element f32 or i64 tensor `x` (TF1's `tf.summary.scalar`),
/// tagged `scope/name`. Output: a scalar bytes tensor (a serialized `Summary`).
pub fn scalar<'g>(name: &str, x: Tensor<'g>) -> Tensor<'g> {
    add_summary(x.graph(), name, SummaryKind::Scalar, &[x])
}

/// A histogram of every element of `x` (any shape, f32 or i64) with TensorFlow's default
/// buckets (TF1's `tf.summary.histogram`), tagged `scope/name`.
pub fn histogram<'g>(name: &str, x: Tensor<'g>) -> Tensor<'g> {
    add_summary(x.graph(), name, SummaryKind::Histogram, &[x])
}

/// The first `max_outputs` images of `images` (f32 `[n, h, w, c]`, `c` in 1, 3, 4) as PNGs
/// (TF1's `tf.summary.image`): tags `scope/name/image` (one) or `scope/name/image/i`.
/// Values are scaled to `0..=255` per image as in TF1 (see [`super::encode::image_values`]).
pub fn image<'g>(name: &str, images: Tensor<'g>, max_outputs: usize) -> Tensor<'g> {
    let kind = SummaryKind::Image { max_outputs };
    add_summary(images.graph(), name, kind, &[images])
}

/// A fixed Markdown text shown in TensorBoard's Text tab (hyper-parameters, a run's
/// command line), tagged `scope/name`.
pub fn text<'g>(g: &'g Graph, name: &str, text: &str) -> Tensor<'g> {
    let kind = SummaryKind::Text {
        text: text.to_string(),
    };
    add_summary(g, name, kind, &[])
}

/// One summary holding the values of all `summaries` (TF1's `tf.summary.merge`); a tag that
/// occurs twice is a run-time error naming it.
pub fn merge<'g>(g: &'g Graph, summaries: &[Tensor<'g>]) -> Tensor<'g> {
    g.add(MergeSummary, summaries)
}

/// All summary ops of the graph merged into one (TF1's `tf.summary.merge_all`), in creation
/// order; `None` when the graph has none. Merges built earlier are not included again.
pub fn merge_all(g: &Graph) -> Option<Tensor<'_>> {
    let found: Vec<_> = {
        let dag = g.dag();
        dag.node_indices()
            .filter(|&i| matches!(dag[i].op, Op::Summary(_)) && dag[i].error.is_none())
            .collect()
    };
    if found.is_empty() {
        return None;
    }
    let ts: Vec<Tensor<'_>> = found
        .into_iter()
        .map(|i| Tensor::from_index(g, i))
        .collect();
    Some(merge(g, &ts))
}
