//! Debugging aids inside the graph: `print(x, message)` (TF1's `tf.Print`) and
//! `check_numerics(x, message)` (TF1's `tf.debugging.check_numerics`). For checking every
//! float output of a run (TF1's `add_check_numerics_ops`), see
//! `Session::set_check_numerics`.
//!
//! A static graph cannot be stepped through. Two ways to see an intermediate value:
//! - fetch it: any tensor can be a fetch, so `sess.run(&[train_op.into(), hidden.into()], ..)`
//!   returns `hidden` as computed in that very run (before the run's variable updates);
//! - wrap it in [`print`](fn@print): an identity that writes the message, the runtime shape and the
//!   first values to stderr every time it runs. Use its output in place of the input, or the
//!   print will be pruned away like any node nothing depends on.
//!
//! For time rather than values, see `Session::run_profiled`.

use super::{GradCtx, GradResult, KernelCtx, OpDef};
use crate::graph::{Tensor, TensorInfo, Value, ValueView};
use serde::{Deserialize, Serialize};
use std::io::Write;

/// Identity that logs its input to stderr each time it runs; the gradient passes through.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Print {
    /// Printed in front of the value.
    pub message: String,
    /// How many leading elements (row-major) to print.
    pub first_n: usize,
}

impl Print {
    /// The line this op writes for `x`: `message shape=[2, 3] dtype=f32 [v0, v1, ...]`.
    pub fn format(&self, x: &ValueView) -> String {
        let mut s = format!(
            "{} shape={:?} dtype={} [",
            self.message,
            x.shape(),
            x.dtype()
        );
        let n = x.shape().iter().product::<usize>();
        let shown = n.min(self.first_n);
        let items: Vec<String> = match x {
            ValueView::F32(a) => a.iter().take(shown).map(|v| v.to_string()).collect(),
            ValueView::I64(a) => a.iter().take(shown).map(|v| v.to_string()).collect(),
            ValueView::Bool(a) => a.iter().take(shown).map(|v| v.to_string()).collect(),
            ValueView::Bytes(b) => vec![format!("<{} bytes>", b.len())],
        };
        s.push_str(&items.join(", "));
        if n > shown {
            s.push_str(", ...");
        }
        s.push(']');
        s
    }
}

impl OpDef for Print {
    fn kind(&self) -> &'static str {
        "Print"
    }
    fn takes_bool(&self) -> bool {
        true
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        match i {
            [x] => Ok(Some((*x).clone())),
            _ => Err(format!("takes one operand, got {}", i.len())),
        }
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let x = &inputs[0];
        let line = self.format(x);
        // Ignore a closed stderr: printing is a side effect, not a result.
        let _ = writeln!(std::io::stderr().lock(), "{line}");
        out.assign_from(x);
        Ok(())
    }
    fn gradient<'g>(&self, c: &GradCtx<'g>) -> GradResult<'g> {
        Ok(vec![Some(c.dy)])
    }
    fn is_stateful(&self) -> bool {
        true
    }
}

/// `x` unchanged; each run that computes it writes `message`, the runtime shape and the
/// first 6 values to stderr. Gradients pass through. Shape: same as `x`.
///
/// ```
/// use staticflow::prelude::*;
/// let g = Graph::new();
/// let x = g.placeholder("x", &[None, Some(2)]);
/// let h = print(relu(x), "hidden:"); // use `h` downstream, not `relu(x)`
/// # let _ = h;
/// ```
pub fn print<'g>(x: Tensor<'g>, message: &str) -> Tensor<'g> {
    print_n(x, message, 6)
}

/// Like [`print`](fn@print), writing the first `first_n` values.
pub fn print_n<'g>(x: Tensor<'g>, message: &str, first_n: usize) -> Tensor<'g> {
    x.graph().add(
        Print {
            message: message.to_string(),
            first_n,
        },
        &[x],
    )
}

/// Which non-finite values `x` holds, in TF1's words: `"NaN"`, `"Inf"` or `"Inf and NaN"`
/// (`None` for a finite tensor or an i64 one). One vectorised pass per 256 elements.
pub fn non_finite(x: &ValueView) -> Option<&'static str> {
    let ValueView::F32(a) = x else { return None };
    let scan = |s: &[f32]| {
        s.chunks(256)
            .any(|c| c.iter().fold(false, |bad, v| bad | !v.is_finite()))
    };
    let bad = match a.as_slice_memory_order() {
        Some(s) => scan(s),
        None => a.iter().any(|v| !v.is_finite()),
    };
    if !bad {
        return None;
    }
    let (nan, inf) = a.iter().fold((false, false), |(n, i), v| {
        (n | v.is_nan(), i | v.is_infinite())
    });
    Some(match (inf, nan) {
        (true, true) => "Inf and NaN",
        (true, false) => "Inf",
        _ => "NaN",
    })
}

/// Identity on an f32 tensor that fails the run if the tensor holds NaN or Inf, with TF1's
/// message `"<message> : Tensor had NaN values"` (or `Inf`, `Inf and NaN`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckNumerics {
    /// Put in front of the error message.
    pub message: String,
}

impl OpDef for CheckNumerics {
    fn kind(&self) -> &'static str {
        "CheckNumerics"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        match i {
            [x] => {
                super::expect_f32("CheckNumerics", x)?;
                Ok(Some((*x).clone()))
            }
            _ => Err(format!("takes one operand, got {}", i.len())),
        }
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let x = &inputs[0];
        if let Some(found) = non_finite(x) {
            return Err(format!("{} : Tensor had {found} values", self.message));
        }
        out.assign_from(x);
        Ok(())
    }
    /// As in TF1: the gradient is checked too.
    fn gradient<'g>(&self, c: &GradCtx<'g>) -> GradResult<'g> {
        let msg = format!(
            "Not a number (NaN) or infinity (Inf) values detected in gradient. {}",
            self.message
        );
        Ok(vec![Some(check_numerics(c.dy, &msg))])
    }
    fn is_stateful(&self) -> bool {
        // Never merged away or cached: the check is the point.
        true
    }
}

/// `x` unchanged (f32), but the run fails with [`Error::Runtime`](crate::Error::Runtime)
/// naming this node and saying `"<message> : Tensor had NaN values"` (or `Inf`, `Inf and
/// NaN`) if `x` holds any (TF1's `tf.debugging.check_numerics`). Its gradient is checked the
/// same way. Shape: same as `x`.
pub fn check_numerics<'g>(x: Tensor<'g>, message: &str) -> Tensor<'g> {
    x.graph().add(
        CheckNumerics {
            message: message.to_string(),
        },
        &[x],
    )
}
