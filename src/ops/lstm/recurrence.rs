//! What the forward and backward time loops share: the order of steps ([`time_at`]), the
//! split of the batch into row ranges for the rayon pool ([`part_rows`]; "Parallel
//! recurrence" in the `ops::lstm` module docs) and the per-thread scratch.

use crate::ops::gemm::SMALL_THRESHOLD;
use std::cell::RefCell;

thread_local! {
    pub(super) static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Time index of the `step`-th processed step.
#[inline]
pub(super) fn time_at(step: usize, time: usize, reverse: bool) -> usize {
    if reverse {
        time - 1 - step
    } else {
        step
    }
}

/// Fewest sequences one task of the parallel recurrence gets.
const MIN_PART_ROWS: usize = 8;

/// Rows (sequences) per task of the recurrence: the batch is cut into
/// `rayon::current_num_threads()` contiguous row ranges when each gets at least
/// [`MIN_PART_ROWS`] rows and a per-step recurrent product of at least
/// [`SMALL_THRESHOLD`] multiply-adds (so the part and the whole batch take the same `sgemm`
/// path and every row's arithmetic is unchanged: the results are bit-identical to one task).
/// Returns `batch` for a single task.
pub(super) fn part_rows(batch: usize, h: usize) -> usize {
    let parts = rayon::current_num_threads()
        .min(batch / MIN_PART_ROWS)
        .max(1);
    let rows = batch.div_ceil(parts);
    let smallest = batch - (batch.div_ceil(rows) - 1) * rows;
    if parts == 1 || smallest * 4 * h * h < SMALL_THRESHOLD {
        return batch;
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The batch is split over the pool's threads only when every part gets enough rows
    /// and a per-step product on the same `sgemm` path as the whole batch.
    #[test]
    fn batch_split_needs_enough_rows_and_work() {
        let pool = |n| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .unwrap()
        };
        assert_eq!(pool(1).install(|| part_rows(64, 128)), 64);
        let two = pool(2);
        assert_eq!(two.install(|| part_rows(32, 128)), 16);
        assert_eq!(two.install(|| part_rows(37, 16)), 19);
        assert_eq!(two.install(|| part_rows(15, 128)), 15);
        assert_eq!(two.install(|| part_rows(16, 4)), 16);
        assert_eq!(pool(3).install(|| part_rows(32, 128)), 11);
    }
}
