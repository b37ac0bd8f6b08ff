//! Static shapes with possibly unknown dimensions, and NumPy broadcasting over them.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A runtime shape held inline (kernels compute shapes every step without allocating).
pub type Dims = smallvec::SmallVec<[usize; 6]>;

/// A static shape: a known rank whose dimensions may be unknown (`None`, shown as `?`),
/// like TF1's `[None, 10]`.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize, Default)]
pub struct Shape(pub Vec<Option<usize>>);

impl Shape {
    /// A fully known shape.
    pub fn known(dims: &[usize]) -> Self {
        Shape(dims.iter().map(|&d| Some(d)).collect())
    }
    /// The rank-0 shape of a scalar.
    pub fn scalar() -> Self {
        Shape(Vec::new())
    }
    /// Number of dimensions.
    pub fn rank(&self) -> usize {
        self.0.len()
    }
    /// Dimension `i` (`None` if unknown).
    pub fn dim(&self, i: usize) -> Option<usize> {
        self.0[i]
    }
    /// All dimensions, if every one is known.
    pub fn to_vec(&self) -> Option<Vec<usize>> {
        self.0.iter().copied().collect()
    }
    /// Element count, if every dimension is known (and the count fits in `usize`, which
    /// the graph guarantees for the shape of every node that built).
    pub fn num_elements(&self) -> Option<usize> {
        self.0
            .iter()
            .try_fold(1usize, |n, d| d.and_then(|d| n.checked_mul(d)))
    }
    /// Checks that a tensor of this shape with `elem_bytes`-byte elements can exist: the
    /// product of its known non-zero dimensions, in bytes, fits in `isize` (the most any
    /// allocation can hold). Unknown dimensions are not counted; every later product of
    /// known dimensions of this shape then fits too.
    pub fn check_size(&self, elem_bytes: usize) -> Result<(), String> {
        let n = self
            .0
            .iter()
            .flatten()
            .filter(|&&d| d > 0)
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .ok_or_else(|| format!("the element count of shape {self} overflows"))?;
        if n.checked_mul(elem_bytes.max(1))
            .is_none_or(|b| b > isize::MAX as usize)
        {
            return Err(format!(
                "shape {self} has {n} elements, {elem_bytes} bytes each: more than any allocation can hold"
            ));
        }
        Ok(())
    }
    /// True if every dimension is known.
    pub fn is_fully_known(&self) -> bool {
        self.0.iter().all(Option::is_some)
    }
    /// Whether a concrete runtime shape is an instance of this static shape.
    pub fn admits(&self, dims: &[usize]) -> bool {
        self.rank() == dims.len()
            && self
                .0
                .iter()
                .zip(dims)
                .all(|(s, &d)| s.is_none_or(|s| s == d))
    }
    /// Whether two static shapes could describe the same runtime shape.
    pub fn compatible(&self, other: &Shape) -> bool {
        self.rank() == other.rank()
            && self.0.iter().zip(&other.0).all(|(a, b)| match (a, b) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            })
    }
    /// NumPy broadcasting of two static shapes, or a message saying which dims clash.
    pub fn broadcast(&self, other: &Shape) -> Result<Shape, String> {
        let n = self.rank().max(other.rank());
        let mut out = vec![None; n];
        for (i, slot) in out.iter_mut().enumerate() {
            let a = dim_from_right(self, n - 1 - i);
            let b = dim_from_right(other, n - 1 - i);
            *slot = match (a, b) {
                (Some(a), Some(b)) if a == b => Some(a),
                (Some(1), b) => b,
                (a, Some(1)) => a,
                (Some(a), Some(b)) => {
                    return Err(format!(
                        "shapes {self} and {other} are not broadcastable (dimension {a} vs {b})"
                    ))
                }
                (None, Some(b)) => Some(b),
                (Some(a), None) => Some(a),
                (None, None) => None,
            };
        }
        Ok(Shape(out))
    }
}

/// Dimension `k` counted from the right (0 = last); a missing leading dimension is 1.
fn dim_from_right(s: &Shape, k: usize) -> Option<usize> {
    if k < s.rank() {
        s.0[s.rank() - 1 - k]
    } else {
        Some(1)
    }
}

/// NumPy broadcasting of two concrete runtime shapes (no heap allocation up to rank 6).
pub fn broadcast_dims(a: &[usize], b: &[usize]) -> Result<Dims, String> {
    let n = a.len().max(b.len());
    let mut out: Dims = smallvec::smallvec![0; n];
    for (i, slot) in out.iter_mut().enumerate() {
        let k = n - 1 - i;
        let da = if k < a.len() { a[a.len() - 1 - k] } else { 1 };
        let db = if k < b.len() { b[b.len() - 1 - k] } else { 1 };
        *slot = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return Err(format!("incompatible shapes {a:?} vs {b:?}"));
        };
    }
    Ok(out)
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[")?;
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            match d {
                Some(d) => write!(f, "{d}")?,
                None => write!(f, "?")?,
            }
        }
        write!(f, "]")
    }
}

impl From<&[usize]> for Shape {
    fn from(d: &[usize]) -> Self {
        Shape::known(d)
    }
}
impl<const N: usize> From<[usize; N]> for Shape {
    fn from(d: [usize; N]) -> Self {
        Shape::known(&d)
    }
}
impl From<&[Option<usize>]> for Shape {
    fn from(d: &[Option<usize>]) -> Self {
        Shape(d.to_vec())
    }
}
impl<const N: usize> From<[Option<usize>; N]> for Shape {
    fn from(d: [Option<usize>; N]) -> Self {
        Shape(d.to_vec())
    }
}
impl<const N: usize> From<&[Option<usize>; N]> for Shape {
    fn from(d: &[Option<usize>; N]) -> Self {
        Shape(d.to_vec())
    }
}
impl<const N: usize> From<&[usize; N]> for Shape {
    fn from(d: &[usize; N]) -> Self {
        Shape::known(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn broadcasting_follows_numpy() {
        let a = Shape(vec![None, Some(10)]);
        let b = Shape::known(&[10]);
        assert_eq!(a.broadcast(&b).unwrap(), a);
        assert_eq!(
            Shape::known(&[3, 1])
                .broadcast(&Shape::known(&[1, 4]))
                .unwrap(),
            Shape::known(&[3, 4])
        );
        assert!(Shape::known(&[3]).broadcast(&Shape::known(&[4])).is_err());
        assert_eq!(
            broadcast_dims(&[2, 1, 3], &[4, 1]).unwrap().as_slice(),
            &[2, 4, 3]
        );
        assert!(broadcast_dims(&[2], &[3]).is_err());
    }
}
