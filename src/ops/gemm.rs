//! The one fast matrix multiply every heavy kernel uses (matmul, LSTM, conv2d via im2col).
//!
//! Wraps the `gemm` crate, which picks AVX-512/AVX2/FMA micro-kernels at run time and splits
//! large products over the rayon pool; hand-writing that well is a project of its own.

use ndarray::{ArrayView2, ArrayViewMut2};

/// Products with fewer multiply-adds than this run on the calling thread: below it, waking
/// the pool costs more than it saves.
const PARALLEL_THRESHOLD: usize = 64 * 64 * 64;

/// Products with fewer multiply-adds than this use a plain loop: the `gemm` crate's packing
/// and dispatch cost more than the arithmetic for the tiny matrices of small models.
pub(crate) const SMALL_THRESHOLD: usize = 8 * 1024;

/// `c = a · b`, or `c += a · b` if `accumulate`. Shapes: `a [m, k]`, `b [k, n]`, `c [m, n]`;
/// any strides (pass `.t()` views for transposes).
///
/// Panics if the shapes do not fit (callers check shapes first: this is never user input).
pub fn sgemm(a: ArrayView2<f32>, b: ArrayView2<f32>, c: ArrayViewMut2<f32>, accumulate: bool) {
    let (m, k, n) = (a.nrows(), a.ncols(), b.ncols());
    sgemm_impl(a, b, c, accumulate, m * n * k >= PARALLEL_THRESHOLD);
}

/// Like [`sgemm`], always on the calling thread: for kernels that already split their work
/// over the rayon pool (conv2d over image chunks) and call it from inside a task, and for
/// medium products issued many times in sequence (an LSTM's per-step recurrent product),
/// where handing each one to the pool costs a thread wake-up per call.
pub fn sgemm_serial(
    a: ArrayView2<f32>,
    b: ArrayView2<f32>,
    c: ArrayViewMut2<f32>,
    accumulate: bool,
) {
    sgemm_impl(a, b, c, accumulate, false);
}

fn sgemm_impl(
    a: ArrayView2<f32>,
    b: ArrayView2<f32>,
    mut c: ArrayViewMut2<f32>,
    accumulate: bool,
    parallel: bool,
) {
    let (m, k) = a.dim();
    let (k2, n) = b.dim();
    assert!(
        k == k2 && c.dim() == (m, n),
        "sgemm: [{m}, {k}] · [{k2}, {n}] -> {:?}",
        c.dim()
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            c.fill(0.0);
        }
        return;
    }
    if m * n * k < SMALL_THRESHOLD {
        small_gemm(a, b, c, accumulate);
        return;
    }
    let par = if parallel {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    let (cs, rs) = (c.strides()[1], c.strides()[0]);
    // SAFETY: the pointers and strides describe the three views exactly, whose shapes were
    // checked above; `c` is borrowed mutably and does not alias `a` or `b`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            cs,
            rs,
            accumulate,
            a.as_ptr(),
            a.strides()[1],
            a.strides()[0],
            b.as_ptr(),
            b.strides()[1],
            b.strides()[0],
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            par,
        );
    }
}

/// `c (+)= a · b` for tiny matrices with any strides: row-axpy form when rows of `b` are
/// long and contiguous, dot-product form otherwise (e.g. `n == 1`).
fn small_gemm(a: ArrayView2<f32>, b: ArrayView2<f32>, mut c: ArrayViewMut2<f32>, accumulate: bool) {
    let (m, k) = a.dim();
    let n = b.ncols();
    let (ar, ac) = (a.strides()[0], a.strides()[1]);
    let (br, bc) = (b.strides()[0], b.strides()[1]);
    let (cr, cc) = (c.strides()[0], c.strides()[1]);
    let (pa, pb, pc) = (a.as_ptr(), b.as_ptr(), c.as_mut_ptr());
    // SAFETY: every offset below is `row * row_stride + col * col_stride` with row and col
    // inside the view's shape, so it addresses an element of that view; `c` does not alias.
    unsafe {
        if bc == 1 && cc == 1 && n >= 8 {
            for i in 0..m as isize {
                let crow = std::slice::from_raw_parts_mut(pc.offset(i * cr), n);
                if !accumulate {
                    crow.fill(0.0);
                }
                for p in 0..k as isize {
                    let aip = *pa.offset(i * ar + p * ac);
                    let brow = std::slice::from_raw_parts(pb.offset(p * br), n);
                    crow.iter_mut().zip(brow).for_each(|(c, &b)| *c += aip * b);
                }
            }
        } else {
            for i in 0..m as isize {
                for j in 0..n as isize {
                    let mut acc = 0.0f32;
                    for p in 0..k as isize {
                        acc += *pa.offset(i * ar + p * ac) * *pb.offset(p * br + j * bc);
                    }
                    let cij = pc.offset(i * cr + j * cc);
                    *cij = if accumulate { *cij + acc } else { acc };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, ShapeBuilder};

    #[test]
    fn matches_naive_product_with_transposes_and_accumulation() {
        let a = Array2::from_shape_fn((7, 5), |(i, j)| (i * 5 + j) as f32 * 0.1 - 1.0);
        let b = Array2::from_shape_fn((5, 3).f(), |(i, j)| (i + 2 * j) as f32 * 0.3 - 0.5);
        let expect = a.dot(&b);
        let mut c = Array2::<f32>::from_elem((7, 3), 9.0);
        sgemm(a.view(), b.view(), c.view_mut(), false);
        assert!((&c - &expect).iter().all(|d| d.abs() < 1e-5));
        sgemm(a.view(), b.view(), c.view_mut(), true);
        assert!((&c - &(&expect * 2.0)).iter().all(|d| d.abs() < 1e-5));
        let at = a.t().to_owned();
        let mut c2 = Array2::<f32>::zeros((7, 3));
        sgemm(at.t(), b.view(), c2.view_mut(), false);
        assert!((&c2 - &expect).iter().all(|d| d.abs() < 1e-5));
        // A product above the small-matrix threshold takes the `gemm` crate path.
        let a = Array2::from_shape_fn((40, 30), |(i, j)| ((i * 3 + j) % 7) as f32 - 3.0);
        let b = Array2::from_shape_fn((30, 20), |(i, j)| ((i + 5 * j) % 5) as f32 - 2.0);
        let mut c = Array2::<f32>::zeros((40, 20));
        sgemm(a.view(), b.view(), c.view_mut(), false);
        assert_eq!(c, a.dot(&b));
    }
}
