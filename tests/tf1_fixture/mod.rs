//! Reading TF1 fixtures (tests/fixtures/tf1_*.json) and comparing against them: NaN where
//! TF1 has NaN, the same infinity where TF1 has one, else within 1e-6 absolute or 1e-5
//! relative. Shared by tests/tf1_ops.rs, tests/tf1_losses.rs, tests/tf1_optimizers.rs,
//! tests/tf1_metrics.rs and tests/tf1_shape_ops.rs.
#![allow(dead_code)]

use ndarray::{ArrayD, IxDyn};
use serde_json::Value as Json;
use staticflow::graph::Value;

/// Absolute tolerance.
pub const ABS_TOL: f64 = 1e-6;
/// Relative tolerance (applies where the absolute error exceeds [`ABS_TOL`]).
pub const REL_TOL: f64 = 1e-5;

/// A float of the fixture (non-finite ones are strings).
pub fn num(v: &Json) -> f32 {
    match v {
        Json::String(s) => match s.as_str() {
            "nan" => f32::NAN,
            "inf" => f32::INFINITY,
            "-inf" => f32::NEG_INFINITY,
            other => panic!("unknown float {other}"),
        },
        _ => v.as_f64().expect("a number") as f32,
    }
}

pub fn shape(t: &Json) -> Vec<usize> {
    t["shape"]
        .as_array()
        .expect("a tensor has a shape")
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect()
}

/// An f32 tensor `{shape, data}` of the fixture.
pub fn f32_array(t: &Json) -> ArrayD<f32> {
    let data = t["data"].as_array().unwrap().iter().map(num).collect();
    ArrayD::from_shape_vec(IxDyn(&shape(t)), data).unwrap()
}

/// An integer tensor `{shape, data}` of the fixture.
pub fn i64_array(t: &Json) -> ArrayD<i64> {
    let data = t["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    ArrayD::from_shape_vec(IxDyn(&shape(t)), data).unwrap()
}

/// True if the fixture tensor holds integers (TF1's int64 labels).
pub fn is_integer(t: &Json) -> bool {
    t["data"].as_array().unwrap().iter().all(|v| v.is_i64())
}

/// Worst absolute and relative error over the finite elements of some comparisons.
#[derive(Default, Clone, Copy, Debug)]
pub struct Worst {
    /// Largest absolute error.
    pub abs: f64,
    /// Largest relative error among elements whose absolute error exceeds [`ABS_TOL`].
    pub rel: f64,
}

impl Worst {
    /// The worse of two.
    pub fn max(self, o: Worst) -> Worst {
        Worst {
            abs: self.abs.max(o.abs),
            rel: self.rel.max(o.rel),
        }
    }
}

/// Compares element by element, updating `worst`; a message naming the element if one is
/// outside the tolerance.
pub fn compare(got: &ArrayD<f32>, want: &ArrayD<f32>, worst: &mut Worst) -> Result<(), String> {
    if got.shape() != want.shape() {
        return Err(format!("shape {:?}, TF1 {:?}", got.shape(), want.shape()));
    }
    for (k, (&g, &w)) in got.iter().zip(want.iter()).enumerate() {
        if !w.is_finite() || !g.is_finite() {
            if !((w.is_nan() && g.is_nan()) || w == g) {
                return Err(format!("element {k}: {g}, TF1 {w}"));
            }
            continue;
        }
        let (g, w) = (g as f64, w as f64);
        let abs = (g - w).abs();
        let rel = if w != 0.0 {
            abs / w.abs()
        } else {
            f64::INFINITY
        };
        worst.abs = worst.abs.max(abs);
        if abs > ABS_TOL {
            worst.rel = worst.rel.max(rel);
            if rel > REL_TOL {
                return Err(format!(
                    "element {k}: {g}, TF1 {w} (abs {abs:.3e}, rel {rel:.3e})"
                ));
            }
        }
    }
    Ok(())
}

/// A fixture tensor with its `dtype` (`f32`, `i64` or `bool`) as a value.
pub fn typed_value(t: &Json) -> Value {
    match t["dtype"].as_str().unwrap() {
        "f32" => Value::F32(f32_array(t)),
        "i64" => Value::I64(i64_array(t)),
        "bool" => {
            let data = t["data"].as_array().unwrap();
            let data = data.iter().map(|v| v.as_bool().unwrap()).collect();
            Value::Bool(ArrayD::from_shape_vec(IxDyn(&shape(t)), data).unwrap())
        }
        other => panic!("unknown dtype {other}"),
    }
}

/// Compares a fetched value with TF1's: bool and i64 exactly, f32 as [`compare`].
pub fn compare_value(got: &Value, want: &Value, worst: &mut Worst) -> Result<(), String> {
    match (got, want) {
        (Value::F32(g), Value::F32(w)) => compare(g, w, worst),
        (g, w) if g == w => Ok(()),
        (g, w) => Err(format!("{g:?}, TF1 {w:?}")),
    }
}
