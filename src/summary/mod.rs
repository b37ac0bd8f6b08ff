//! TensorBoard: summary ops, event files and the graph, as TF1 has them.
//!
//! - Summary ops ([`scalar`], [`histogram`], [`image`](fn@image), [`text`], [`merge`], [`merge_all`])
//!   compute a serialized `Summary` protobuf as a scalar [`DType::Bytes`](crate::DType) tensor;
//!   fetch it with the train op and hand it to [`FileWriter::add_summary`].
//! - [`FileWriter`] writes `events.out.tfevents.*` files (TFRecord framing with masked
//!   CRC-32C, `Event` protobufs); `add_scalar`/`add_histogram`/`add_images`/`add_text` log
//!   values computed outside the graph, [`FileWriter::add_graph`] the graph for the Graphs tab.
//! - [`read_events`] reads a file back (CRCs checked), for tests and tools.
//!
//! ```
//! use staticflow::prelude::*;
//! use staticflow::summary::{self, FileWriter};
//! # fn main() -> staticflow::Result<()> {
//! let g = Graph::new();
//! let x = g.placeholder("x", [None, Some(2)]);
//! let loss = reduce_mean_all(square(x));
//! let merged = g.with_scope("train", || {
//!     summary::scalar("loss", loss);
//!     summary::histogram("x", x);
//!     summary::merge_all(&g).expect("two summaries")
//! });
//! let dir = std::env::temp_dir().join(format!("sf_doc_summary_{}", std::process::id()));
//! let mut writer = FileWriter::new(&dir)?;
//! writer.add_graph(&g)?;
//! let mut sess = Session::new(&g);
//! let xs = ndarray::array![[1.0f32, 2.0], [3.0, 4.0]];
//! let out = sess.run(&[merged.into()], &[(x, (&xs).into())])?;
//! writer.add_summary(out.get(0)?.as_bytes()?, 1)?;
//! writer.flush()?;
//! let events = summary::read_events(writer.path())?;
//! let s = events[2].summary.as_ref().unwrap();
//! assert_eq!(s.value[0].tag, "train/loss");
//! assert_eq!(s.value[0].simple_value, Some(7.5));
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok(()) }
//! ```

mod encode;
mod graph_def;
mod histogram;
mod ops;
pub mod proto;
mod record;
mod writer;

pub use encode::{histogram_value, image_values, scalar_value, text_value};
pub use graph_def::{dtype_proto, graph_def, shape_proto};
pub use histogram::{default_bucket_limits, histogram as histogram_proto};
pub use ops::{
    histogram, image, merge, merge_all, scalar, text, MergeSummary, SummaryKind, SummaryOp,
};
pub use record::{crc32c, frame_record, masked_crc32c, parse_records};
pub use writer::FileWriter;

use crate::error::{Error, Result};
use prost::Message;
use std::path::{Path, PathBuf};

/// Every event of an event file, in order (both CRCs of each record checked).
pub fn read_events(path: impl AsRef<Path>) -> Result<Vec<proto::Event>> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_records(&bytes, path)?
        .iter()
        .enumerate()
        .map(|(k, r)| {
            proto::Event::decode(r.as_slice()).map_err(|e| Error::Decode {
                path: path.to_path_buf(),
                message: format!("record {k} is not an Event: {e}"),
            })
        })
        .collect()
}

/// The event files (`*tfevents*`) directly in `logdir`, sorted by name.
pub fn event_files(logdir: impl AsRef<Path>) -> Result<Vec<PathBuf>> {
    let dir = logdir.as_ref();
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.contains("tfevents"))
        })
        .collect();
    v.sort();
    Ok(v)
}
