//! Runtime values: what feeds, variables and fetches hold. `Value` owns an array, `ValueView`
//! borrows one, so feeds and variables reach kernels without a copy.

use super::DType;
use crate::error::{Error, Result};
use ndarray::{ArrayD, ArrayViewD, Dimension, IxDyn};

/// An owned n-dimensional array of one of the supported dtypes.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// f32 data.
    F32(ArrayD<f32>),
    /// i64 data.
    I64(ArrayD<i64>),
    /// bool data (comparison results, masks).
    Bool(ArrayD<bool>),
    /// A scalar byte string (a serialized `Summary`): produced and read only by summary ops.
    Bytes(Vec<u8>),
}

/// A borrowed view of a [`Value`] or of any ndarray array, as kernels see their inputs.
#[derive(Clone, Debug)]
pub enum ValueView<'a> {
    /// f32 data.
    F32(ArrayViewD<'a, f32>),
    /// i64 data.
    I64(ArrayViewD<'a, i64>),
    /// bool data.
    Bool(ArrayViewD<'a, bool>),
    /// A scalar byte string.
    Bytes(&'a [u8]),
}

impl Default for Value {
    fn default() -> Self {
        Value::F32(ArrayD::zeros(IxDyn(&[0])))
    }
}

impl Value {
    /// The element type.
    pub fn dtype(&self) -> DType {
        match self {
            Value::F32(_) => DType::F32,
            Value::I64(_) => DType::I64,
            Value::Bool(_) => DType::Bool,
            Value::Bytes(_) => DType::Bytes,
        }
    }
    /// The runtime shape.
    pub fn shape(&self) -> &[usize] {
        match self {
            Value::F32(a) => a.shape(),
            Value::I64(a) => a.shape(),
            Value::Bool(a) => a.shape(),
            Value::Bytes(_) => &[],
        }
    }
    /// A zero-copy view.
    pub fn view(&self) -> ValueView<'_> {
        match self {
            Value::F32(a) => ValueView::F32(a.view()),
            Value::I64(a) => ValueView::I64(a.view()),
            Value::Bool(a) => ValueView::Bool(a.view()),
            Value::Bytes(b) => ValueView::Bytes(b),
        }
    }
    /// The f32 array, or an error naming the actual dtype.
    pub fn as_f32(&self) -> Result<&ArrayD<f32>> {
        match self {
            Value::F32(a) => Ok(a),
            other => Err(other.wrong_dtype("f32")),
        }
    }
    /// The i64 array, or an error naming the actual dtype.
    pub fn as_i64(&self) -> Result<&ArrayD<i64>> {
        match self {
            Value::I64(a) => Ok(a),
            other => Err(other.wrong_dtype("i64")),
        }
    }
    /// The bool array, or an error naming the actual dtype.
    pub fn as_bool(&self) -> Result<&ArrayD<bool>> {
        match self {
            Value::Bool(a) => Ok(a),
            other => Err(other.wrong_dtype("bool")),
        }
    }
    /// The byte string (a serialized summary), or an error naming the actual dtype.
    pub fn as_bytes(&self) -> Result<&[u8]> {
        match self {
            Value::Bytes(b) => Ok(b),
            other => Err(other.wrong_dtype("bytes")),
        }
    }
    fn wrong_dtype(&self, want: &str) -> Error {
        Error::Value(format!("expected an {want} value, got {}", self.dtype()))
    }
    /// Converts into the f32 array, or an error naming the actual dtype.
    pub fn into_f32(self) -> Result<ArrayD<f32>> {
        match self {
            Value::F32(a) => Ok(a),
            other => Err(other.wrong_dtype("f32")),
        }
    }
    /// The single element of a one-element f32 value (a scalar loss, say), as f32.
    pub fn scalar(&self) -> Result<f32> {
        let a = self.as_f32()?;
        if a.len() != 1 {
            return Err(Error::Value(format!(
                "expected a single element, got shape {:?}",
                a.shape()
            )));
        }
        Ok(a.iter().next().copied().unwrap_or_default())
    }

    /// Makes `self` an f32 array of `shape`, reusing its allocation when it is large enough.
    /// The contents are unspecified afterwards: kernels overwrite every element.
    pub fn f32_buffer(&mut self, shape: &[usize]) -> &mut ArrayD<f32> {
        if !matches!(self, Value::F32(a) if a.shape() == shape && a.is_standard_layout()) {
            let n: usize = shape.iter().product();
            let mut data = match std::mem::take(self) {
                Value::F32(a) if a.is_standard_layout() => a.into_raw_vec_and_offset().0,
                _ => Vec::new(),
            };
            data.resize(n, 0.0);
            *self = Value::F32(
                ArrayD::from_shape_vec(IxDyn(shape), data).expect("buffer length equals shape"),
            );
        }
        match self {
            Value::F32(a) => a,
            _ => unreachable!("set to F32 above"),
        }
    }

    /// Like [`Value::f32_buffer`], but an error instead of an abort when the buffer cannot
    /// be allocated (TF1's "OOM when allocating tensor"): for kernels whose output size
    /// comes from an attribute rather than from their inputs.
    pub fn try_f32_buffer(&mut self, shape: &[usize]) -> Result<&mut ArrayD<f32>, String> {
        reserve(self, DType::F32, shape)?;
        Ok(self.f32_buffer(shape))
    }

    /// Like [`Value::f32_buffer`] for i64 arrays.
    pub fn i64_buffer(&mut self, shape: &[usize]) -> &mut ArrayD<i64> {
        if !matches!(self, Value::I64(a) if a.shape() == shape && a.is_standard_layout()) {
            let n: usize = shape.iter().product();
            let mut data = match std::mem::take(self) {
                Value::I64(a) if a.is_standard_layout() => a.into_raw_vec_and_offset().0,
                _ => Vec::new(),
            };
            data.resize(n, 0);
            *self = Value::I64(
                ArrayD::from_shape_vec(IxDyn(shape), data).expect("buffer length equals shape"),
            );
        }
        match self {
            Value::I64(a) => a,
            _ => unreachable!("set to I64 above"),
        }
    }

    /// Like [`Value::f32_buffer`] for bool arrays.
    pub fn bool_buffer(&mut self, shape: &[usize]) -> &mut ArrayD<bool> {
        if !matches!(self, Value::Bool(a) if a.shape() == shape && a.is_standard_layout()) {
            let n: usize = shape.iter().product();
            let mut data = match std::mem::take(self) {
                Value::Bool(a) if a.is_standard_layout() => a.into_raw_vec_and_offset().0,
                _ => Vec::new(),
            };
            data.resize(n, false);
            *self = Value::Bool(
                ArrayD::from_shape_vec(IxDyn(shape), data).expect("buffer length equals shape"),
            );
        }
        match self {
            Value::Bool(a) => a,
            _ => unreachable!("set to Bool above"),
        }
    }

    /// Copies `src` into `self`, reusing `self`'s allocation.
    pub fn assign_from(&mut self, src: &ValueView<'_>) {
        match src {
            ValueView::F32(s) => self.f32_buffer(s.shape()).assign(s),
            ValueView::I64(s) => self.i64_buffer(s.shape()).assign(s),
            ValueView::Bool(s) => self.bool_buffer(s.shape()).assign(s),
            ValueView::Bytes(b) => self.bytes_buffer().extend_from_slice(b),
        }
    }

    /// Makes `self` an empty byte string, reusing its allocation when it already is one.
    pub fn bytes_buffer(&mut self) -> &mut Vec<u8> {
        if !matches!(self, Value::Bytes(_)) {
            *self = Value::Bytes(Vec::new());
        }
        match self {
            Value::Bytes(b) => {
                b.clear();
                b
            }
            _ => unreachable!("set to Bytes above"),
        }
    }
}

/// Makes sure `v` can hold an array of `dtype` and `shape` without aborting: reserves the
/// memory (fallibly) if its array is smaller, leaving it an empty array of that capacity,
/// which [`Value::f32_buffer`] / [`Value::i64_buffer`] then fill without allocating. Bytes
/// values need nothing.
pub(crate) fn reserve(v: &mut Value, dtype: DType, shape: &[usize]) -> Result<(), String> {
    let n = shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .filter(|&n| {
            n.checked_mul(dtype.size())
                .is_some_and(|b| b <= isize::MAX as usize)
        })
        .ok_or_else(|| format!("OOM when allocating tensor with shape {shape:?}: too large"))?;
    let oom = |_| {
        format!(
            "OOM when allocating tensor with shape {shape:?}: cannot allocate {} bytes",
            n * dtype.size()
        )
    };
    match dtype {
        DType::F32 if !matches!(v, Value::F32(a) if a.len() >= n) => {
            let mut data: Vec<f32> = Vec::new();
            data.try_reserve_exact(n).map_err(oom)?;
            *v = Value::F32(ArrayD::from_shape_vec(IxDyn(&[0]), data).expect("empty array"));
        }
        DType::I64 if !matches!(v, Value::I64(a) if a.len() >= n) => {
            let mut data: Vec<i64> = Vec::new();
            data.try_reserve_exact(n).map_err(oom)?;
            *v = Value::I64(ArrayD::from_shape_vec(IxDyn(&[0]), data).expect("empty array"));
        }
        DType::Bool if !matches!(v, Value::Bool(a) if a.len() >= n) => {
            let mut data: Vec<bool> = Vec::new();
            data.try_reserve_exact(n).map_err(oom)?;
            *v = Value::Bool(ArrayD::from_shape_vec(IxDyn(&[0]), data).expect("empty array"));
        }
        _ => {}
    }
    Ok(())
}

impl<'a> ValueView<'a> {
    /// The element type.
    pub fn dtype(&self) -> DType {
        match self {
            ValueView::F32(_) => DType::F32,
            ValueView::I64(_) => DType::I64,
            ValueView::Bool(_) => DType::Bool,
            ValueView::Bytes(_) => DType::Bytes,
        }
    }
    /// The runtime shape.
    pub fn shape(&self) -> &[usize] {
        match self {
            ValueView::F32(a) => a.shape(),
            ValueView::I64(a) => a.shape(),
            ValueView::Bool(a) => a.shape(),
            ValueView::Bytes(_) => &[],
        }
    }
    /// The f32 view; kernels call this only on inputs whose dtype was checked at build time.
    pub fn f32(&self) -> &ArrayViewD<'a, f32> {
        match self {
            ValueView::F32(a) => a,
            _ => panic!("internal: kernel expected f32 input (build-time dtype check missed)"),
        }
    }
    /// The i64 view; kernels call this only on inputs whose dtype was checked at build time.
    pub fn i64(&self) -> &ArrayViewD<'a, i64> {
        match self {
            ValueView::I64(a) => a,
            _ => panic!("internal: kernel expected i64 input (build-time dtype check missed)"),
        }
    }
    /// The bool view; kernels call this only on inputs whose dtype was checked at build time.
    pub fn bool(&self) -> &ArrayViewD<'a, bool> {
        match self {
            ValueView::Bool(a) => a,
            _ => panic!("internal: kernel expected bool input (build-time dtype check missed)"),
        }
    }
    /// The byte string; kernels call this only on inputs whose dtype was checked at build time.
    pub fn bytes(&self) -> &'a [u8] {
        match self {
            ValueView::Bytes(b) => b,
            _ => panic!("internal: kernel expected bytes input (build-time dtype check missed)"),
        }
    }
    /// A view of the same data with a shorter lifetime.
    pub fn reborrow(&self) -> ValueView<'_> {
        match self {
            ValueView::F32(a) => ValueView::F32(a.view()),
            ValueView::I64(a) => ValueView::I64(a.view()),
            ValueView::Bool(a) => ValueView::Bool(a.view()),
            ValueView::Bytes(b) => ValueView::Bytes(b),
        }
    }
    /// Copies into an owned value.
    pub fn to_owned(&self) -> Value {
        match self {
            ValueView::F32(a) => Value::F32(a.to_owned()),
            ValueView::I64(a) => Value::I64(a.to_owned()),
            ValueView::Bool(a) => Value::Bool(a.to_owned()),
            ValueView::Bytes(b) => Value::Bytes(b.to_vec()),
        }
    }
}

impl<D: Dimension> From<ndarray::Array<f32, D>> for Value {
    fn from(a: ndarray::Array<f32, D>) -> Self {
        Value::F32(a.into_dyn())
    }
}
impl<D: Dimension> From<ndarray::Array<i64, D>> for Value {
    fn from(a: ndarray::Array<i64, D>) -> Self {
        Value::I64(a.into_dyn())
    }
}
impl<D: Dimension> From<ndarray::Array<bool, D>> for Value {
    fn from(a: ndarray::Array<bool, D>) -> Self {
        Value::Bool(a.into_dyn())
    }
}
impl From<f32> for Value {
    fn from(x: f32) -> Self {
        Value::F32(ndarray::arr0(x).into_dyn())
    }
}
impl From<bool> for Value {
    /// A bool scalar, e.g. `g.constant(true)` as the default of a training flag.
    fn from(x: bool) -> Self {
        Value::Bool(ndarray::arr0(x).into_dyn())
    }
}
impl<'a, D: Dimension> From<&'a ndarray::Array<f32, D>> for ValueView<'a> {
    fn from(a: &'a ndarray::Array<f32, D>) -> Self {
        ValueView::F32(a.view().into_dyn())
    }
}
impl<'a, D: Dimension> From<&'a ndarray::Array<i64, D>> for ValueView<'a> {
    fn from(a: &'a ndarray::Array<i64, D>) -> Self {
        ValueView::I64(a.view().into_dyn())
    }
}
impl<'a, D: Dimension> From<&'a ndarray::Array<bool, D>> for ValueView<'a> {
    fn from(a: &'a ndarray::Array<bool, D>) -> Self {
        ValueView::Bool(a.view().into_dyn())
    }
}
impl<'a, D: Dimension> From<ndarray::ArrayView<'a, f32, D>> for ValueView<'a> {
    fn from(a: ndarray::ArrayView<'a, f32, D>) -> Self {
        ValueView::F32(a.into_dyn())
    }
}
impl<'a, D: Dimension> From<ndarray::ArrayView<'a, i64, D>> for ValueView<'a> {
    fn from(a: ndarray::ArrayView<'a, i64, D>) -> Self {
        ValueView::I64(a.into_dyn())
    }
}
impl<'a, D: Dimension> From<ndarray::ArrayView<'a, bool, D>> for ValueView<'a> {
    fn from(a: ndarray::ArrayView<'a, bool, D>) -> Self {
        ValueView::Bool(a.into_dyn())
    }
}
impl<'a> From<&'a Value> for ValueView<'a> {
    fn from(v: &'a Value) -> Self {
        v.view()
    }
}
