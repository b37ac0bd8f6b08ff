//! Readers and datasets. This layer depends only on [`crate::error`] and produces plain
//! ndarrays, so it can feed any graph.
//!
//! - [`dataset`]: a `tf.data`-style [`Dataset`] (parallel map, shuffle, batch, repeat, cache,
//!   prefetch on a worker thread).
//! - [`augment`]: random mirror, zoom and shift of images with landmark labels (bilinear,
//!   points mapped with their pixels).
//! - [`image`]: JPEG/PNG decoding to 3-channel f32 in `[0, 1]`, PIL-style bilinear resize,
//!   per-image standardisation.
//! - [`mtfl`]: the MTFL face-landmark reader (annotations and images).
//! - [`conll`]: the CoNLL-2000 reader (`WORD POS CHUNK` per line, blank line between
//!   sentences), with malformed lines reported as [`crate::Error::Parse`] (file and line).
//! - [`vocab`]: word and tag vocabularies (lowercased words seen at least twice, `PAD = 0`,
//!   `UNK = 1`; tag index 0 is padding), and sentence encoding.
//! - [`batch`]: padded batches `[B, T]` (word ids, tag ids, mask), bucketed by length and
//!   shuffled per epoch with a seed.
//! - [`synthetic`]: a deterministic synthetic POS + chunk corpus generated from a small
//!   grammar, used when the real data is absent.
//! - [`chunks`]: conlleval-style chunk extraction and F1, and token accuracy.
//!
//! [`find_data_dir`] is the one place that knows where the shared data lives.

pub mod augment;
pub mod batch;
pub mod chunks;
pub mod conll;
pub mod dataset;
pub mod image;
pub mod mtfl;
pub mod synthetic;
pub mod vocab;

use std::path::PathBuf;

/// Where to look for data set `name` (`"conll2000"`, `"mtfl"`) when no `--data` flag is given,
/// in order: `$MTL_DATA_DIR/<name>` (an empty variable counts as unset), then
/// [`project_data_dir`]`/<name>`. `--data DIR` and `MTL_DATA_DIR` name the same level: the
/// folder holding `conll2000/` and `mtfl/`.
pub fn data_dir_candidates(name: &str) -> Vec<PathBuf> {
    std::env::var_os("MTL_DATA_DIR")
        .filter(|d| !d.is_empty())
        .map(|d| PathBuf::from(d).join(name))
        .into_iter()
        .chain([project_data_dir().join(name)])
        .collect()
}

/// The fallback data folder: `../shared/data` relative to the project root (the folder of
/// staticflow's `Cargo.toml`, fixed when the crate is compiled), whatever the working
/// directory, so `cargo run` from a subfolder and a test binary started anywhere find the
/// same data.
pub fn project_data_dir() -> PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    root.parent().unwrap_or(root).join("shared").join("data")
}

/// The first of [`data_dir_candidates`] that holds every file in `required`, if any.
pub fn find_data_dir(name: &str, required: &[&str]) -> Option<PathBuf> {
    data_dir_candidates(name)
        .into_iter()
        .find(|d| required.iter().all(|f| d.join(f).is_file()))
}

pub use batch::{eval_batches, make_batch, train_batches, TaggedBatch};
pub use chunks::{chunk_f1, extract_chunks, score_tagging, Chunk, ChunkScore, TaggingScore};
pub use conll::{parse_conll, read_conll, write_conll, Sentence};
pub use dataset::{shard_range, Dataset, DatasetIter, ErrorCounter, Slices, Stack};
pub use synthetic::{synthetic_corpus, synthetic_corpus_sized, SyntheticCorpus};
pub use vocab::{EncodedSentence, TagVocab, TaggerVocab, WordVocab, PAD, UNK};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fallback_data_folder_is_absolute_and_beside_the_project_root() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let d = project_data_dir();
        assert!(d.is_absolute(), "{}", d.display());
        assert_eq!(d, root.parent().unwrap().join("shared/data"));
        // Last candidate, after $MTL_DATA_DIR/<name> when that is set.
        let c = data_dir_candidates("conll2000");
        assert_eq!(c.last(), Some(&d.join("conll2000")));
        assert!(c.len() <= 2);
    }
}
