//! Checkpoints: variable values in a [safetensors](https://huggingface.co/docs/safetensors)
//! file, one tensor per variable, named after it (`shared/w`, `Adam/shared/w/m`,
//! `global_step`, ...). f32, i64 and bool values.
//!
//! Every entry's CRC32C (over its bytes, dtype and shape; TF1's checkpoints use CRC32C too)
//! is stored in the file's metadata as `crc32c:<name>` and verified on restore, before any
//! variable changes. Checkpoints without checksums (written before they existed) are refused
//! unless [`Saver::allow_unverified_checkpoints`].
//!
//! `save` writes a temporary file in the destination's directory, syncs it and renames it
//! over the destination, so a crash or a failed write never destroys the previous
//! checkpoint. `restore` checks every name, dtype and shape before changing anything.

use crate::error::{Error, Result};
use crate::graph::{DType, Graph, Tensor, Value};
use crate::ops::Op;
use crate::session::Session;
use ndarray::{ArrayD, IxDyn};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Saves and restores variables (TF1's `tf.train.Saver`).
pub struct Saver<'g> {
    graph: &'g Graph,
    /// `None`: every global variable at the time of the call.
    vars: Option<Vec<Tensor<'g>>>,
    allow_extra: bool,
    allow_unverified: bool,
}

impl<'g> Saver<'g> {
    /// A saver for every variable of `g`, including optimizer slots, Adam's beta powers and
    /// the global step. The list is taken at each `save`/`restore`, so variables created
    /// after the saver (e.g. by a later `minimize`) are covered too.
    pub fn new(g: &'g Graph) -> Self {
        Saver {
            graph: g,
            vars: None,
            allow_extra: false,
            allow_unverified: false,
        }
    }

    /// A saver for `vars` only (all from one graph; each must be a variable, else `save` and
    /// `restore` return [`Error::InvalidArgument`]). Panics never; an empty list saves an
    /// empty checkpoint.
    pub fn for_variables(g: &'g Graph, vars: &[Tensor<'g>]) -> Self {
        Saver {
            graph: g,
            vars: Some(vars.to_vec()),
            allow_extra: false,
            allow_unverified: false,
        }
    }

    /// Lets `restore` ignore checkpoint entries this saver does not cover (to load part of a
    /// checkpoint, e.g. a pretrained shared encoder). By default they are mismatches.
    pub fn allow_extra_entries(mut self, allow: bool) -> Self {
        self.allow_extra = allow;
        self
    }

    /// Lets `restore` accept checkpoints written before staticflow stored checksums (no
    /// `checksum` metadata at all). Off by default: such a file cannot be told apart from one
    /// whose checksum entries were damaged, so it is refused with
    /// [`Error::CorruptCheckpoint`] unless the caller opts in. Files that do declare
    /// checksums are always verified entry by entry.
    pub fn allow_unverified_checkpoints(mut self, allow: bool) -> Self {
        self.allow_unverified = allow;
        self
    }

    /// The variables covered, in creation (or given) order, checked to be variables of the
    /// saver's graph.
    fn variables(&self) -> Result<Vec<Tensor<'g>>> {
        let vars = match &self.vars {
            Some(v) => v.clone(),
            None => self.graph.global_variables(),
        };
        crate::graph::same_graph_pub(self.graph, &vars, "the saver's graph")?;
        let mut seen = std::collections::HashSet::new();
        for v in &vars {
            if !matches!(self.graph.node(v.index()).op, Op::Variable(_)) {
                return Err(Error::InvalidArgument(format!(
                    "Saver: `{}` is not a variable",
                    v.name()
                )));
            }
            if !seen.insert(v.index()) {
                return Err(Error::InvalidArgument(format!(
                    "Saver: variable `{}` is listed twice",
                    v.name()
                )));
            }
        }
        Ok(vars)
    }

    /// Writes the covered variables' values from `sess` to `path` (a safetensors file),
    /// atomically: a temporary file is written and synced, then renamed over `path`. On
    /// error the previous file at `path` is untouched and the temporary file removed.
    ///
    /// Errors: an uninitialized variable ([`Error::UninitializedVariable`]), I/O failures
    /// ([`Error::Io`] naming the file).
    pub fn save(&self, sess: &Session<'g>, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let vars = self.variables()?;
        let mut entries: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
        for v in &vars {
            let (dtype, shape, bytes) = match sess.variable_value(*v)? {
                Value::F32(a) => (
                    Dtype::F32,
                    a.shape().to_vec(),
                    le_bytes(a.iter(), f32::to_le_bytes),
                ),
                Value::I64(a) => (
                    Dtype::I64,
                    a.shape().to_vec(),
                    le_bytes(a.iter(), i64::to_le_bytes),
                ),
                Value::Bool(a) => (
                    Dtype::BOOL,
                    a.shape().to_vec(),
                    a.iter().map(|&b| b as u8).collect(),
                ),
                Value::Bytes(_) => {
                    return Err(Error::Value(format!(
                        "variable `{}` holds bytes, which checkpoints do not store",
                        v.name()
                    )))
                }
            };
            entries.push((v.name(), dtype, shape, bytes));
        }
        let views = entries
            .iter()
            .map(|(n, d, s, b)| Ok((n.as_str(), TensorView::new(*d, s.clone(), b)?)))
            .collect::<std::result::Result<Vec<_>, safetensors::SafeTensorError>>()
            .map_err(|e| Error::io(path, format!("cannot encode checkpoint: {e}")))?;
        let mut metadata = HashMap::from([
            ("format".to_string(), "staticflow".to_string()),
            (CHECKSUM_KEY.to_string(), "crc32c".to_string()),
        ]);
        for (n, d, s, b) in &entries {
            metadata.insert(
                format!("{CRC_PREFIX}{n}"),
                format!("{:08x}", tensor_crc(*d, s, b)),
            );
        }
        let bytes = safetensors::tensor::serialize(views, Some(metadata))
            .map_err(|e| Error::io(path, format!("cannot encode checkpoint: {e}")))?;
        crate::atomic::write_atomic(path, &bytes)
    }

    /// Sets the covered variables in `sess` from the checkpoint at `path`.
    ///
    /// First the whole file is verified: every entry's CRC32C (over its bytes, dtype and
    /// shape) must match the one stored at save time, else [`Error::CorruptCheckpoint`] names
    /// the entry and the file. Then every covered variable must be in the file with its dtype
    /// and shape, and (unless [`Saver::allow_extra_entries`]) the file must hold nothing
    /// else. Otherwise [`Error::Mismatch`] lists every mismatch (missing, unexpected, wrong
    /// dtype or shape). An unreadable or malformed file is an [`Error::Io`]. On any error no
    /// variable of `sess` is changed.
    pub fn restore(&self, sess: &mut Session<'g>, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let vars = self.variables()?;
        let file = CheckpointFile::read(path)?;
        let in_file = file.verified_entries(self.allow_unverified)?;
        let mut mismatches = Vec::new();
        let mut values = Vec::with_capacity(vars.len());
        for v in &vars {
            let name = v.name();
            let Op::Variable(decl) = self.graph.node(v.index()).op else {
                unreachable!("checked by variables()")
            };
            let want = format!("{:?} {}", decl.shape, decl.dtype);
            let Some(t) = in_file.get(&name) else {
                mismatches.push(format!("missing `{name}` (graph has {want})"));
                continue;
            };
            let file_dtype = match t.dtype() {
                Dtype::F32 => Some(DType::F32),
                Dtype::I64 => Some(DType::I64),
                Dtype::BOOL => Some(DType::Bool),
                _ => None,
            };
            let got = format!(
                "{:?} {}",
                t.shape(),
                file_dtype.map_or_else(|| format!("{:?}", t.dtype()), |d| d.to_string())
            );
            if file_dtype != Some(decl.dtype) || t.shape() != decl.shape.as_slice() {
                mismatches.push(format!("`{name}`: file has {got}, graph has {want}"));
                continue;
            }
            values.push((*v, decode(t, decl.dtype)));
        }
        if !self.allow_extra {
            let covered: std::collections::HashSet<String> =
                vars.iter().map(|v| v.name()).collect();
            for (name, t) in &in_file {
                if !covered.contains(name) {
                    mismatches.push(format!(
                        "unexpected `{name}` ({:?} {:?}) in file, not in the graph",
                        t.shape(),
                        t.dtype()
                    ));
                }
            }
        }
        if !mismatches.is_empty() {
            return Err(Error::Mismatch {
                path: path.to_path_buf(),
                mismatches,
            });
        }
        for (v, value) in values {
            sess.set_variable(v, value)?;
        }
        Ok(())
    }
}

/// Little-endian bytes of every element.
fn le_bytes<'a, T: Copy + 'a, const N: usize>(
    it: impl Iterator<Item = &'a T>,
    f: fn(T) -> [u8; N],
) -> Vec<u8> {
    it.flat_map(|x| f(*x)).collect()
}

/// A checked tensor's value (dtype and shape already match).
pub(crate) fn decode(t: &TensorView<'_>, dtype: DType) -> Value {
    let shape = IxDyn(t.shape());
    let data = t.data();
    match dtype {
        DType::F32 => {
            let v = data
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
                .collect();
            Value::F32(ArrayD::from_shape_vec(shape, v).expect("length checked by safetensors"))
        }
        DType::I64 => {
            let v = data
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect();
            Value::I64(ArrayD::from_shape_vec(shape, v).expect("length checked by safetensors"))
        }
        // safetensors stores a bool as one byte; any nonzero byte reads as true.
        DType::Bool => Value::Bool(
            ArrayD::from_shape_vec(shape, data.iter().map(|&b| b != 0).collect())
                .expect("length checked by safetensors"),
        ),
        // Never reached: no file dtype maps to Bytes, so such a variable is a mismatch.
        DType::Bytes => Value::Bytes(data.to_vec()),
    }
}

/// Metadata key declaring how entries are checksummed (`"crc32c"`).
const CHECKSUM_KEY: &str = "checksum";
/// Prefix of the metadata key holding one entry's checksum: `crc32c:<entry name>`.
const CRC_PREFIX: &str = "crc32c:";

/// CRC32C (TF1's checkpoint checksum) of an entry's bytes, then its dtype and shape, so a
/// corrupted header that still parses (another shape of the same size) is caught too.
fn tensor_crc(dtype: Dtype, shape: &[usize], bytes: &[u8]) -> u32 {
    let crc = crc32c::crc32c(bytes);
    crc32c::crc32c_append(crc, format!("{dtype:?}{shape:?}").as_bytes())
}

/// A checkpoint file read into memory. The read and verify steps are separate functions so
/// that restoring part of a checkpoint can reuse them.
pub(crate) struct CheckpointFile {
    path: PathBuf,
    data: Vec<u8>,
}

impl CheckpointFile {
    /// Reads the whole file. Errors: [`Error::Io`] naming it.
    pub(crate) fn read(path: &Path) -> Result<Self> {
        let data = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Ok(CheckpointFile {
            path: path.to_path_buf(),
            data,
        })
    }

    /// Parses the file and verifies every entry's checksum; returns the entries by name.
    /// Errors: [`Error::Io`] for a file that is not a safetensors checkpoint,
    /// [`Error::CorruptCheckpoint`] for an entry whose checksum is missing or differs, or a
    /// checksum for an entry the file does not hold. A file without any checksum metadata
    /// (written before checksums existed) passes only if `allow_unverified`.
    pub(crate) fn verified_entries(
        &self,
        allow_unverified: bool,
    ) -> Result<BTreeMap<String, TensorView<'_>>> {
        let path = &self.path;
        let corrupt = |tensor: &str, message: String| Error::CorruptCheckpoint {
            path: path.clone(),
            tensor: tensor.to_string(),
            message,
        };
        let (_, meta) = SafeTensors::read_metadata(&self.data)
            .map_err(|e| Error::io(path, format!("not a safetensors checkpoint: {e}")))?;
        let st = SafeTensors::deserialize(&self.data)
            .map_err(|e| Error::io(path, format!("not a safetensors checkpoint: {e}")))?;
        let entries: BTreeMap<String, TensorView<'_>> = st.tensors().into_iter().collect();
        let meta = meta.metadata().clone().unwrap_or_default();
        let mut stored: BTreeMap<&str, &str> = meta
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix(CRC_PREFIX)?, v.as_str())))
            .collect();
        match meta.get(CHECKSUM_KEY).map(String::as_str) {
            Some("crc32c") => {}
            None if stored.is_empty() && allow_unverified => return Ok(entries),
            None if stored.is_empty() => {
                return Err(corrupt(
                    "",
                    "the file has no checksums (written before staticflow stored them, or its \
                     metadata is damaged); use Saver::allow_unverified_checkpoints(true) to \
                     restore it anyway"
                        .into(),
                ))
            }
            other => {
                return Err(corrupt(
                    "",
                    format!("unknown or missing checksum kind {other:?}"),
                ))
            }
        }
        for (name, t) in &entries {
            let Some(want) = stored.remove(name.as_str()) else {
                return Err(corrupt(name, "no checksum stored for this entry".into()));
            };
            let got = tensor_crc(t.dtype(), t.shape(), t.data());
            if u32::from_str_radix(want, 16).ok() != Some(got) || want.len() != 8 {
                return Err(corrupt(
                    name,
                    format!("CRC32C mismatch (stored {want}, computed {got:08x})"),
                ));
            }
        }
        if let Some((name, _)) = stored.into_iter().next() {
            return Err(corrupt(
                name,
                "a checksum is stored for an entry the file does not hold".into(),
            ));
        }
        Ok(entries)
    }
}
