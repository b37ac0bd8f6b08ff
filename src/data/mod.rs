//! Input pipelines: readers and datasets. Depends only on `error`; produces plain ndarrays.

pub mod dataset;
pub mod image;
pub mod mtfl;

pub use dataset::{Dataset, DatasetIter, ErrorCounter, Slices, Stack};
