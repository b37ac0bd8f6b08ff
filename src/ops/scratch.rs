//! Per-thread scratch buffers for heavy kernels (im2col columns, LSTM step buffers): each
//! grows once to the largest size asked for and is then reused, so kernels allocate nothing
//! per step.

use std::cell::RefCell;
use std::thread::LocalKey;

/// A per-thread scratch buffer; declare one with `thread_local!` per use that may be live at
/// the same time as another.
pub(crate) type ScratchKey = LocalKey<RefCell<Vec<f32>>>;

/// Runs `f` with `len` floats of this thread's buffer `key` (contents unspecified). If the
/// buffer is already in use on this thread (a nested call), `f` gets a temporary instead of
/// panicking.
pub(crate) fn with_scratch<R>(
    key: &'static ScratchKey,
    len: usize,
    f: impl FnOnce(&mut [f32]) -> R,
) -> R {
    key.with(|cell| match cell.try_borrow_mut() {
        Ok(mut v) => {
            if v.len() < len {
                v.resize(len, 0.0);
            }
            f(&mut v[..len])
        }
        Err(_) => f(&mut vec![0.0; len]),
    })
}

/// Like [`with_scratch`], with the `len` floats set to zero first.
pub(crate) fn with_zeroed_scratch<R>(
    key: &'static ScratchKey,
    len: usize,
    f: impl FnOnce(&mut [f32]) -> R,
) -> R {
    with_scratch(key, len, |s| {
        s.fill(0.0);
        f(s)
    })
}
