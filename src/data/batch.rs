//! Padded sentence batches: `[B, T]` id arrays with a `[B, T]` f32 mask, `T` the longest
//! sentence of the batch. Training batches are bucketed by length (sentences are shuffled,
//! sorted by length inside windows of `BUCKET_WINDOW` batches, cut into batches, and the
//! batches shuffled again), so padding stays low while every epoch sees a new order.

use super::vocab::EncodedSentence;
use ndarray::Array2;
use rand::seq::SliceRandom;
use rand::Rng;

/// How many batches one length-sorting window spans.
pub const BUCKET_WINDOW: usize = 16;

/// One padded batch. Rows are sentences, columns time steps; padding is 0 and mask 0.
#[derive(Clone, Debug)]
pub struct TaggedBatch {
    /// Word ids `[B, T]`.
    pub words: Array2<i64>,
    /// POS tag ids `[B, T]`.
    pub pos: Array2<i64>,
    /// Chunk tag ids `[B, T]`.
    pub chunks: Array2<i64>,
    /// Case classes `[B, T]`.
    pub case: Array2<i64>,
    /// Suffix ids `[B, T]`.
    pub suffix: Array2<i64>,
    /// 1.0 on real tokens, 0.0 on padding `[B, T]`.
    pub mask: Array2<f32>,
    /// Real length of every row.
    pub lengths: Vec<usize>,
    /// Index of every row's sentence in the encoded corpus.
    pub indices: Vec<usize>,
}

impl TaggedBatch {
    /// Number of real (unpadded) tokens.
    pub fn tokens(&self) -> usize {
        self.lengths.iter().sum()
    }
    /// Number of sentences.
    pub fn len(&self) -> usize {
        self.lengths.len()
    }
    /// True for an empty batch.
    pub fn is_empty(&self) -> bool {
        self.lengths.is_empty()
    }
}

/// Builds the padded batch of sentences `indices` of `corpus`.
pub fn make_batch(corpus: &[EncodedSentence], indices: &[usize]) -> TaggedBatch {
    let lengths: Vec<usize> = indices.iter().map(|&i| corpus[i].len()).collect();
    let b = indices.len();
    let t = lengths.iter().copied().max().unwrap_or(0).max(1);
    let mut words = Array2::zeros((b, t));
    let mut pos = Array2::zeros((b, t));
    let mut chunks = Array2::zeros((b, t));
    let mut case = Array2::zeros((b, t));
    let mut suffix = Array2::zeros((b, t));
    let mut mask = Array2::zeros((b, t));
    for (r, &i) in indices.iter().enumerate() {
        let s = &corpus[i];
        for j in 0..s.len() {
            words[[r, j]] = s.words[j];
            pos[[r, j]] = s.pos[j];
            chunks[[r, j]] = s.chunks[j];
            case[[r, j]] = s.case[j];
            suffix[[r, j]] = s.suffix[j];
            mask[[r, j]] = 1.0;
        }
    }
    TaggedBatch {
        words,
        pos,
        chunks,
        case,
        suffix,
        mask,
        lengths,
        indices: indices.to_vec(),
    }
}

/// One epoch of training batches (sentence indices), shuffled with `rng`. With `bucketed`,
/// sentences of similar length share batches (see the module doc); without it, batches are
/// consecutive slices of one random permutation, exactly as the reference scripts do.
pub fn train_batches(
    lengths: &[usize],
    batch_size: usize,
    bucketed: bool,
    rng: &mut impl Rng,
) -> Vec<Vec<usize>> {
    let batch_size = batch_size.max(1);
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.shuffle(rng);
    if !bucketed {
        return order.chunks(batch_size).map(<[usize]>::to_vec).collect();
    }
    let mut batches: Vec<Vec<usize>> = Vec::new();
    for window in order.chunks(batch_size * BUCKET_WINDOW) {
        let mut w = window.to_vec();
        w.sort_by_key(|&i| lengths[i]);
        batches.extend(w.chunks(batch_size).map(<[usize]>::to_vec));
    }
    batches.shuffle(rng);
    batches
}

/// Evaluation batches: all sentences sorted by length (least padding), in order.
pub fn eval_batches(lengths: &[usize], batch_size: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.sort_by_key(|&i| lengths[i]);
    order
        .chunks(batch_size.max(1))
        .map(<[usize]>::to_vec)
        .collect()
}
