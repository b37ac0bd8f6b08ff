//! [`FileWriter`]: appends events to `<logdir>/events.out.tfevents.<secs>.<host>`, the files
//! TensorBoard watches. Buffered; flushed every `flush_interval` (checked at each write), on
//! [`FileWriter::flush`] and on drop. Every write error is returned as [`Error::Io`] naming
//! the file (drop cannot return one: call `flush` or `close` to see it).

use super::encode::{histogram_value, image_values, scalar_value, text_value};
use super::graph_def::graph_def;
use super::proto::{
    DeviceStepStats, Event, NodeExecStats, RunMetadata, StepStats, Summary, TaggedRunMetadata,
};
use super::record::frame_record;
use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::session::Profile;
use ndarray::ArrayView4;
use prost::Message;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Writes TensorBoard event files (TF1's `tf.summary.FileWriter`).
pub struct FileWriter {
    path: PathBuf,
    file: Option<File>,
    buf: Vec<u8>,
    flush_interval: Duration,
    last_flush: Instant,
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The machine's name for event file names (`localhost` when it cannot be read).
fn hostname() -> String {
    let raw = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .unwrap_or_default();
    let clean: String = raw
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        .collect();
    if clean.is_empty() {
        "localhost".into()
    } else {
        clean
    }
}

impl FileWriter {
    /// Creates `logdir` (and parents) and a new event file in it whose first record is the
    /// `brain.Event:2` version event. A second writer started in the same second gets a
    /// `.1`, `.2`, ... suffix rather than overwriting.
    pub fn new(logdir: impl AsRef<Path>) -> Result<Self> {
        let dir = logdir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let wall = now_secs();
        let base = format!("events.out.tfevents.{:010}.{}", wall as u64, hostname());
        let mut k = 0;
        let (path, file) = loop {
            let name = if k == 0 {
                base.clone()
            } else {
                format!("{base}.{k}")
            };
            let path = dir.join(name);
            match File::options().write(true).create_new(true).open(&path) {
                Ok(f) => break (path, f),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => k += 1,
                Err(e) => return Err(Error::io(&path, e)),
            }
        };
        let mut w = FileWriter {
            path,
            file: Some(file),
            buf: Vec::new(),
            flush_interval: Duration::from_secs(10),
            last_flush: Instant::now(),
        };
        w.add_event(&Event {
            wall_time: wall,
            file_version: Some("brain.Event:2".into()),
            ..Default::default()
        })?;
        w.flush()?;
        Ok(w)
    }

    /// Sets how often buffered events reach the file (default 10 s; TF1's is 120 s).
    pub fn with_flush_interval(mut self, every: Duration) -> Self {
        self.flush_interval = every;
        self
    }

    /// The event file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one event (flushing when the interval has passed).
    pub fn add_event(&mut self, event: &Event) -> Result<()> {
        frame_record(&event.encode_to_vec(), &mut self.buf);
        if self.last_flush.elapsed() >= self.flush_interval {
            self.flush()?;
        }
        Ok(())
    }

    /// Appends a serialized `Summary` (what a summary op or `merge` returns, fetched with
    /// `Outputs::get(i)?.as_bytes()`) at `step`. Bytes that are not a summary are an error.
    pub fn add_summary(&mut self, summary: &[u8], step: i64) -> Result<()> {
        let s = Summary::decode(summary)
            .map_err(|e| Error::InvalidArgument(format!("not a serialized summary: {e}")))?;
        self.add_summary_proto(s, step)
    }

    fn add_summary_proto(&mut self, summary: Summary, step: i64) -> Result<()> {
        self.add_event(&Event {
            wall_time: now_secs(),
            step,
            summary: Some(summary),
            ..Default::default()
        })
    }

    /// Appends a scalar computed outside the graph (a test metric, say) at `step`.
    pub fn add_scalar(&mut self, tag: &str, value: f32, step: i64) -> Result<()> {
        self.add_summary_proto(
            Summary {
                value: vec![scalar_value(tag, value)],
            },
            step,
        )
    }

    /// Appends a histogram of `values` (TF's default buckets) at `step`.
    pub fn add_histogram(
        &mut self,
        tag: &str,
        values: impl IntoIterator<Item = f32>,
        step: i64,
    ) -> Result<()> {
        let value = vec![histogram_value(tag, values.into_iter())];
        self.add_summary_proto(Summary { value }, step)
    }

    /// Appends up to `max_outputs` images of `images` (`[n, h, w, c]`, `c` in 1, 3, 4) as
    /// PNGs, scaled as the `image` summary op does.
    pub fn add_images(
        &mut self,
        tag: &str,
        images: ArrayView4<'_, f32>,
        max_outputs: usize,
        step: i64,
    ) -> Result<()> {
        let value = image_values(tag, images, max_outputs).map_err(Error::InvalidArgument)?;
        self.add_summary_proto(Summary { value }, step)
    }

    /// Appends a Markdown text at `step`.
    pub fn add_text(&mut self, tag: &str, text: &str, step: i64) -> Result<()> {
        let value = vec![text_value(tag, text)];
        self.add_summary_proto(Summary { value }, step)
    }

    /// Appends the graph for TensorBoard's Graphs tab (see [`super::graph_def()`]).
    pub fn add_graph(&mut self, graph: &Graph) -> Result<()> {
        self.add_event(&Event {
            wall_time: now_secs(),
            graph_def: Some(graph_def(graph).encode_to_vec()),
            ..Default::default()
        })
    }

    /// Appends a profiled run's per-node timings (`Session::run_profiled`) as `RunMetadata`
    /// under `tag`: the Graphs tab then colours nodes by compute time for that run.
    pub fn add_run_metadata(&mut self, profile: &Profile, tag: &str, step: i64) -> Result<()> {
        let start = (now_secs() * 1e6) as i64;
        let mut t = 0f64;
        let node_stats = profile
            .entries
            .iter()
            .map(|e| {
                let s = NodeExecStats {
                    node_name: e.name.clone(),
                    all_start_micros: start + t as i64,
                    all_end_rel_micros: e.micros.round() as i64,
                };
                t += e.micros;
                s
            })
            .collect();
        let meta = RunMetadata {
            step_stats: Some(StepStats {
                dev_stats: vec![DeviceStepStats {
                    device: "/job:localhost/replica:0/task:0/device:CPU:0".into(),
                    node_stats,
                }],
            }),
        };
        self.add_event(&Event {
            wall_time: now_secs(),
            step,
            tagged_run_metadata: Some(TaggedRunMetadata {
                tag: tag.to_string(),
                run_metadata: meta.encode_to_vec(),
            }),
            ..Default::default()
        })
    }

    /// Writes buffered events to the file.
    pub fn flush(&mut self) -> Result<()> {
        self.last_flush = Instant::now();
        if self.buf.is_empty() {
            return Ok(());
        }
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| Error::io(&self.path, "writer is closed"))?;
        let r = file.write_all(&self.buf).and_then(|()| file.flush());
        self.buf.clear();
        r.map_err(|e| Error::io(&self.path, e))
    }

    /// Flushes, syncs and closes the file.
    pub fn close(mut self) -> Result<()> {
        self.flush()?;
        match self.file.take() {
            Some(f) => f.sync_all().map_err(|e| Error::io(&self.path, e)),
            None => Ok(()),
        }
    }
}

impl Drop for FileWriter {
    fn drop(&mut self) {
        // Errors cannot be returned from drop; `flush`/`close` report them.
        let _ = self.flush();
    }
}
