//! The input pipelines: augmented, shuffled training batches and the ordered test split.

use super::TASKS;
use ndarray::Array1;
use staticflow::data::augment::{AugmentOptions, Transform};
use staticflow::data::mtfl::MtflSplit;
use staticflow::data::Dataset;
use staticflow::heads::Batch;
use std::sync::Arc;

/// Shuffled, repeated training batches with random flips, shifts and zooms (the
/// face_landmarks recipe's augmentation), labels of `tasks`, the next batch prefetched.
pub(crate) fn train_input(
    data: Arc<MtflSplit>,
    tasks: Vec<usize>,
    batch: usize,
    seed: u64,
) -> Dataset<Batch> {
    use rand::SeedableRng;
    let n = data.len();
    let aug = AugmentOptions {
        flip: true,
        max_shift: 2,
        max_zoom: 1.5,
    };
    let rng = std::sync::Mutex::new(rand::rngs::StdRng::seed_from_u64(seed ^ 0xFACE));
    Dataset::from_vec((0..n).collect::<Vec<usize>>())
        .shuffle(n, seed)
        .repeat(None)
        .batch(batch.min(n), true)
        .map_sequential(move |idx: Array1<usize>| {
            let idx = idx.to_vec();
            let augs: Vec<Transform> = match rng.lock() {
                Ok(mut r) => idx.iter().map(|_| aug.sample(&mut *r)).collect(),
                Err(_) => vec![],
            };
            Ok(make_batch(&data, &idx, &augs, &tasks))
        })
        .prefetch(2)
}

/// The whole split in order, in batches of 500.
pub(crate) fn eval_input(data: Arc<MtflSplit>, tasks: Vec<usize>) -> Dataset<Batch> {
    let n = data.len();
    Dataset::from_vec((0..n).collect::<Vec<usize>>())
        .batch(500, false)
        .map_sequential(move |idx: Array1<usize>| Ok(make_batch(&data, &idx.to_vec(), &[], &tasks)))
}

/// Faces `idx` transformed by `aug`, with the labels of `tasks`.
pub(crate) fn make_batch(
    data: &MtflSplit,
    idx: &[usize],
    aug: &[Transform],
    tasks: &[usize],
) -> Batch {
    let (x, landmarks, attributes) = data.transformed(idx, aug);
    let n = idx.len();
    let mut b = Batch::new().feature("x", x);
    for &t in tasks {
        b = if t == 0 {
            let flat = landmarks
                .to_shape((n, 10))
                .expect("[n, 5, 2] landmarks")
                .to_owned();
            b.label(TASKS[0], flat)
        } else {
            b.label(TASKS[t], attributes.column(t - 1).to_owned())
        };
    }
    b
}
