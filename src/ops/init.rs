//! Variable initialisers (TF1's `tf.zeros_initializer`, `glorot_uniform_initializer`, ...).
//! An [`Init`] is plain data: shape, dtype and a rule; the `Fill` op samples it with its seed.

use crate::graph::{DType, Value};
use ndarray::{ArrayD, IxDyn};
use ndarray_rand::rand_distr::{Normal, Uniform};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// How to produce an initial value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum InitKind {
    /// All elements equal to this constant.
    Constant(f64),
    /// Normal(mean, stddev).
    RandomNormal {
        /// Mean.
        mean: f32,
        /// Standard deviation.
        stddev: f32,
    },
    /// Normal(mean, stddev), redrawn when more than two stddevs from the mean (TF1's rule).
    TruncatedNormal {
        /// Mean.
        mean: f32,
        /// Standard deviation.
        stddev: f32,
    },
    /// Uniform on `[minval, maxval)`.
    RandomUniform {
        /// Lower bound.
        minval: f32,
        /// Upper bound (exclusive).
        maxval: f32,
    },
    /// Glorot (Xavier) uniform: U(-l, l), l = sqrt(6 / (fan_in + fan_out)).
    GlorotUniform,
    /// An explicit value, given as f32 data in row-major order.
    Values(Vec<f32>),
}

/// An initial value: a fully known shape, a dtype and a rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Init {
    /// Shape of the variable.
    pub shape: Vec<usize>,
    /// Element type.
    pub dtype: DType,
    /// Rule.
    pub kind: InitKind,
}

/// Fan-in and fan-out as TF computes them: `[in, out]` for matrices, receptive field times
/// channels for convolution kernels `[kh, kw, in, out]`.
pub fn fans(shape: &[usize]) -> (f32, f32) {
    match shape.len() {
        0 => (1.0, 1.0),
        1 => (shape[0] as f32, shape[0] as f32),
        n => {
            let field: usize = shape[..n - 2].iter().product();
            ((field * shape[n - 2]) as f32, (field * shape[n - 1]) as f32)
        }
    }
}

impl Init {
    fn f32(shape: &[usize], kind: InitKind) -> Init {
        Init {
            shape: shape.to_vec(),
            dtype: DType::F32,
            kind,
        }
    }

    /// Same rule with another dtype (only constant rules make sense for i64 and bool; a bool
    /// constant is `true` when nonzero, as TF1's cast).
    pub fn with_dtype(mut self, dtype: DType) -> Init {
        self.dtype = dtype;
        self
    }

    /// Checks the rule against the shape and dtype: the element count and byte size fit in
    /// `usize`/`isize`, i64 and bool variables take only constant rules (TF1 has no random
    /// integer or bool initialisers), and an explicit value has one element per position.
    pub fn validate(&self) -> Result<(), String> {
        let n = self.element_count()?;
        let elem = self.dtype.size();
        if n.checked_mul(elem).is_none_or(|b| b > isize::MAX as usize) {
            return Err(format!(
                "shape {:?} has {n} elements, {elem} bytes each: more than any allocation can hold",
                self.shape
            ));
        }
        match (&self.kind, self.dtype) {
            (InitKind::Constant(_), _) => {}
            (k, d @ (DType::I64 | DType::Bool)) => {
                let article = if d == DType::I64 { "an" } else { "a" };
                return Err(format!(
                    "{article} {d} variable needs a constant initialiser, got {k:?}"
                ));
            }
            (InitKind::Values(v), _) if v.len() != n => {
                return Err(format!(
                    "the initial value has {} elements, shape {:?} needs {n}",
                    v.len(),
                    self.shape
                ))
            }
            _ => {}
        }
        if !matches!(self.dtype, DType::F32 | DType::I64 | DType::Bool) {
            return Err(format!("cannot initialise a {} variable", self.dtype));
        }
        Ok(())
    }

    /// The number of elements, or an error if it overflows `usize`.
    pub fn element_count(&self) -> Result<usize, String> {
        self.shape
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .ok_or_else(|| format!("the element count of shape {:?} overflows", self.shape))
    }

    /// Draws the value from a generator seeded with `seed`. Errors (never aborts) when the
    /// rule does not [`validate`](Init::validate) or the memory cannot be allocated. As in
    /// TF1, `minval == maxval` gives that value, a NaN or negative stddev is used as given
    /// (NaN values, mirrored samples), and a zero-size glorot shape gives an empty value.
    pub fn sample(&self, seed: u64) -> Result<Value, String> {
        self.validate()?;
        let mut rng = StdRng::seed_from_u64(seed);
        let shape = IxDyn(&self.shape);
        let n = self.element_count()?;
        if self.dtype == DType::I64 {
            let InitKind::Constant(c) = self.kind else {
                unreachable!("checked by validate")
            };
            let v = filled(n, c as i64)?;
            return Ok(Value::I64(
                ArrayD::from_shape_vec(shape, v).map_err(|e| e.to_string())?,
            ));
        }
        if self.dtype == DType::Bool {
            let InitKind::Constant(c) = self.kind else {
                unreachable!("checked by validate")
            };
            let v = filled(n, c != 0.0)?;
            return Ok(Value::Bool(
                ArrayD::from_shape_vec(shape, v).map_err(|e| e.to_string())?,
            ));
        }
        // Reserve first: a variable too large for memory is an error, not an abort.
        let mut v = filled(n, 0.0f32)?;
        if n == 0 {
            return Ok(Value::F32(
                ArrayD::from_shape_vec(shape, v).map_err(|e| e.to_string())?,
            ));
        }
        let std_normal = Normal::new(0.0f32, 1.0).expect("valid");
        match &self.kind {
            InitKind::Constant(c) => v.fill(*c as f32),
            // `mean + stddev * z`, exactly what `Normal::new(mean, stddev)` draws, but defined
            // for every stddev as in TF1.
            InitKind::RandomNormal { mean, stddev } => v
                .iter_mut()
                .for_each(|x| *x = mean + stddev * rng.sample(std_normal)),
            InitKind::TruncatedNormal { mean, stddev } => v.iter_mut().for_each(|x| {
                *x = loop {
                    let z: f32 = rng.sample(std_normal);
                    if z.abs() <= 2.0 {
                        break mean + stddev * z;
                    }
                }
            }),
            InitKind::RandomUniform { minval, maxval } if minval < maxval => {
                let u = Uniform::new(*minval, *maxval);
                v.iter_mut().for_each(|x| *x = rng.sample(u));
            }
            // minval >= maxval or NaN bounds: TF1's `minval + (maxval - minval) * u`.
            InitKind::RandomUniform { minval, maxval } => {
                let u = Uniform::new(0.0f32, 1.0);
                v.iter_mut()
                    .for_each(|x| *x = minval + (maxval - minval) * rng.sample(u));
            }
            InitKind::GlorotUniform => {
                let (fi, fo) = fans(&self.shape);
                let l = (6.0 / (fi + fo)).sqrt();
                let u = Uniform::new(-l, l);
                v.iter_mut().for_each(|x| *x = rng.sample(u));
            }
            InitKind::Values(vals) => v.copy_from_slice(vals),
        }
        Ok(Value::F32(
            ArrayD::from_shape_vec(shape, v).map_err(|e| e.to_string())?,
        ))
    }
}

/// `n` copies of `x`, or an error if the memory cannot be reserved.
fn filled<T: Copy>(n: usize, x: T) -> Result<Vec<T>, String> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|e| {
        format!(
            "cannot allocate {n} elements ({} bytes): {e}",
            n.saturating_mul(std::mem::size_of::<T>())
        )
    })?;
    v.resize(n, x);
    Ok(v)
}

/// All zeros.
pub fn zeros(shape: &[usize]) -> Init {
    Init::f32(shape, InitKind::Constant(0.0))
}
/// All ones.
pub fn ones(shape: &[usize]) -> Init {
    Init::f32(shape, InitKind::Constant(1.0))
}
/// All elements equal to `c`.
pub fn constant(shape: &[usize], c: f32) -> Init {
    Init::f32(shape, InitKind::Constant(c as f64))
}
/// Normal(mean, stddev).
pub fn random_normal(shape: &[usize], mean: f32, stddev: f32) -> Init {
    Init::f32(shape, InitKind::RandomNormal { mean, stddev })
}
/// Truncated normal (redrawn beyond two stddevs).
pub fn truncated_normal(shape: &[usize], mean: f32, stddev: f32) -> Init {
    Init::f32(shape, InitKind::TruncatedNormal { mean, stddev })
}
/// Uniform on `[minval, maxval)`.
pub fn random_uniform(shape: &[usize], minval: f32, maxval: f32) -> Init {
    Init::f32(shape, InitKind::RandomUniform { minval, maxval })
}
/// Glorot (Xavier) uniform, TF's default for dense and conv kernels.
pub fn glorot_uniform(shape: &[usize]) -> Init {
    Init::f32(shape, InitKind::GlorotUniform)
}
/// An explicit f32 value (row-major data for `shape`).
pub fn from_array(a: &ndarray::ArrayD<f32>) -> Init {
    Init::f32(a.shape(), InitKind::Values(a.iter().copied().collect()))
}
