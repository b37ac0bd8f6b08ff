//! Element types of tensors.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Element type of a tensor. Floats carry activations and parameters; `I64` carries labels,
/// word ids and indices; `Bool` carries the answers of comparisons and logic ops (TF1's
/// `tf.bool`), one byte per element.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum DType {
    /// 32-bit float.
    F32,
    /// 64-bit signed integer.
    I64,
    /// Boolean (comparison results, masks, `where` conditions).
    Bool,
    /// A scalar byte string (TF's `string`): only summary ops produce and consume it.
    Bytes,
}

impl DType {
    /// Bytes per element (a byte string counts as one scalar of 1 byte).
    pub fn size(self) -> usize {
        match self {
            DType::F32 => 4,
            DType::I64 => 8,
            DType::Bool => 1,
            DType::Bytes => 1,
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DType::F32 => "f32",
            DType::I64 => "i64",
            DType::Bool => "bool",
            DType::Bytes => "bytes",
        })
    }
}
