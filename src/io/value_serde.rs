//! Serde for [`Value`]: `{"dtype": "F32", "shape": [..], "f32": [..]}` (or `"i64"`,
//! `"bool"` for those dtypes). f32 data is written in
//! the shortest form that reads back to the same bits.

use crate::graph::{DType, Value};
use ndarray::{ArrayD, IxDyn};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Serialize, Deserialize)]
struct Repr {
    dtype: DType,
    shape: Vec<usize>,
    #[serde(default)]
    f32: Vec<f32>,
    #[serde(default)]
    i64: Vec<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    bool: Vec<bool>,
}

/// Serializes a value.
pub fn serialize<S: Serializer>(v: &Value, s: S) -> Result<S::Ok, S::Error> {
    let r = match v {
        Value::Bytes(_) => {
            return Err(serde::ser::Error::custom(
                "bytes values (summaries) are not stored in graph files",
            ))
        }
        Value::F32(a) => Repr {
            dtype: DType::F32,
            shape: a.shape().to_vec(),
            f32: a.iter().copied().collect(),
            i64: vec![],
            bool: vec![],
        },
        Value::I64(a) => Repr {
            dtype: DType::I64,
            shape: a.shape().to_vec(),
            f32: vec![],
            i64: a.iter().copied().collect(),
            bool: vec![],
        },
        Value::Bool(a) => Repr {
            dtype: DType::Bool,
            shape: a.shape().to_vec(),
            f32: vec![],
            i64: vec![],
            bool: a.iter().copied().collect(),
        },
    };
    r.serialize(s)
}

/// Deserializes a value, checking that the data fills the shape.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
    let r = Repr::deserialize(d)?;
    let shape = IxDyn(&r.shape);
    let bad = |e: ndarray::ShapeError| {
        serde::de::Error::custom(format!("value data does not fill shape {:?}: {e}", r.shape))
    };
    Ok(match r.dtype {
        DType::F32 => Value::F32(ArrayD::from_shape_vec(shape, r.f32).map_err(bad)?),
        DType::I64 => Value::I64(ArrayD::from_shape_vec(shape.clone(), r.i64).map_err(bad)?),
        DType::Bool => Value::Bool(ArrayD::from_shape_vec(shape.clone(), r.bool).map_err(bad)?),
        DType::Bytes => {
            return Err(serde::de::Error::custom(
                "bytes values (summaries) are not stored in graph files",
            ))
        }
    })
}
