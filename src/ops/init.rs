//! Variable initialisers (TF1's `tf.zeros_initializer`, `glorot_uniform_initializer`, ...).
//! An [`Init`] is plain data: shape, dtype and a rule; the `Fill` op samples it with its seed.

use crate::graph::{DType, Value};
use ndarray::{ArrayD, IxDyn};
use ndarray_rand::rand_distr::{Normal, Uniform};
use ndarray_rand::RandomExt;
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

    /// Same rule with another dtype (only constant rules make sense for i64).
    pub fn with_dtype(mut self, dtype: DType) -> Init {
        self.dtype = dtype;
        self
    }

    /// Draws the value from a generator seeded with `seed`.
    pub fn sample(&self, seed: u64) -> Value {
        let mut rng = StdRng::seed_from_u64(seed);
        let shape = IxDyn(&self.shape);
        let n: usize = self.shape.iter().product();
        if self.dtype == DType::I64 {
            let c = match &self.kind {
                InitKind::Constant(c) => *c as i64,
                _ => 0,
            };
            return Value::I64(ArrayD::from_elem(shape, c));
        }
        let a = match &self.kind {
            InitKind::Constant(c) => ArrayD::from_elem(shape, *c as f32),
            InitKind::RandomNormal { mean, stddev } => ArrayD::random_using(
                shape,
                Normal::new(*mean, *stddev).expect("stddev >= 0"),
                &mut rng,
            ),
            InitKind::TruncatedNormal { mean, stddev } => {
                let d = Normal::new(0.0f32, 1.0).expect("valid");
                ArrayD::from_shape_fn(shape, |_| loop {
                    let z: f32 = rng.sample(d);
                    if z.abs() <= 2.0 {
                        break mean + stddev * z;
                    }
                })
            }
            InitKind::RandomUniform { minval, maxval } => {
                ArrayD::random_using(shape, Uniform::new(*minval, *maxval), &mut rng)
            }
            InitKind::GlorotUniform => {
                let (fi, fo) = fans(&self.shape);
                let l = (6.0 / (fi + fo)).sqrt();
                ArrayD::random_using(shape, Uniform::new(-l, l), &mut rng)
            }
            InitKind::Values(v) => {
                let mut v = v.clone();
                v.resize(n, 0.0);
                ArrayD::from_shape_vec(shape, v).expect("length matches")
            }
        };
        Value::F32(a)
    }
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
