//! The operands' dimensions: [`Dims`], checked by the kernels at run time, and
//! [`infer_dims`], the static shape rule shared by `LstmForward` and `LstmBackward`.

use crate::graph::TensorInfo;
use crate::ops::expect_f32;

/// Runtime dimensions of one LSTM application.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Dims {
    pub(super) batch: usize,
    pub(super) time: usize,
    pub(super) input: usize,
    pub(super) hidden: usize,
}

impl Dims {
    pub(super) fn check(
        x: &[usize],
        mask: &[usize],
        w: &[usize],
        b: &[usize],
    ) -> Result<Dims, String> {
        if x.len() != 3 {
            return Err(format!("x must be [batch, time, input], got {x:?}"));
        }
        if mask.len() != 2 || mask[0] != x[0] || mask[1] != x[1] {
            return Err(format!(
                "mask must be [batch, time] = [{}, {}], got {mask:?}",
                x[0], x[1]
            ));
        }
        if w.len() != 2 || !w[1].is_multiple_of(4) {
            return Err(format!("w must be [input + hidden, 4*hidden], got {w:?}"));
        }
        let hidden = w[1] / 4;
        if w[0] != x[2] + hidden {
            return Err(format!(
                "w must be [input + hidden, 4*hidden] = [{} + {hidden}, {}], got {w:?}",
                x[2], w[1]
            ));
        }
        if b.len() != 1 || b[0] != w[1] {
            return Err(format!("b must be [4*hidden] = [{}], got {b:?}", w[1]));
        }
        Ok(Dims {
            batch: x[0],
            time: x[1],
            input: x[2],
            hidden,
        })
    }

    pub(super) fn packed_len(&self) -> usize {
        self.batch * self.time * self.input
            + (self.input + self.hidden) * 4 * self.hidden
            + 4 * self.hidden
    }
}

/// Static version of [`Dims::check`]: unknown dimensions pass, known ones must agree.
pub(super) fn infer_dims(i: &[&TensorInfo]) -> Result<[Option<usize>; 4], String> {
    for (k, t) in i.iter().enumerate() {
        expect_f32("Lstm", t)
            .map_err(|e| format!("{e} (operand {k}: x, mask, w, b are all f32)"))?;
    }
    let (x, m, w, b) = (&i[0].shape, &i[1].shape, &i[2].shape, &i[3].shape);
    if x.rank() != 3 || m.rank() != 2 || w.rank() != 2 || b.rank() != 1 {
        return Err(format!(
            "needs x [batch, time, input], mask [batch, time], w [input + hidden, 4*hidden], \
             b [4*hidden]; got ranks {}, {}, {}, {}",
            x.rank(),
            m.rank(),
            w.rank(),
            b.rank()
        ));
    }
    let agree = |a: Option<usize>, b: Option<usize>| a.zip(b).is_none_or(|(a, b)| a == b);
    if !agree(x.dim(0), m.dim(0)) || !agree(x.dim(1), m.dim(1)) {
        return Err(format!("mask {m} does not match x {x} in [batch, time]"));
    }
    let h = match w.dim(1) {
        Some(n) if n % 4 != 0 => {
            return Err(format!("w's second dimension must be 4*hidden, got {n}"))
        }
        n => n.map(|n| n / 4),
    };
    if let (Some(i), Some(h), Some(r)) = (x.dim(2), h, w.dim(0)) {
        if r != i + h {
            return Err(format!(
                "w must have input + hidden = {i} + {h} rows, got {r}"
            ));
        }
    }
    if !agree(b.dim(0), w.dim(1)) {
        return Err(format!("b {b} must be [4*hidden] to match w {w}"));
    }
    let h = h.or(b.dim(0).map(|n| n / 4));
    Ok([x.dim(0), x.dim(1), x.dim(2), h])
}
