//! Atomic file writes: the one helper every file staticflow or its examples write goes through
//! (graph files, checkpoints, DOT, CoNLL output, CSV, plots, images, event files).
//!
//! The bytes go to a temporary file in the destination's directory (hidden, named after the
//! destination, the process id and a per-process counter, shortened to stay within the
//! 255-byte file-name limit), which is flushed, `fsync`ed and renamed over the destination;
//! the directory is then synced (best effort). A writer killed at any point leaves the old
//! file intact (and at worst a stray `.*.tmp` file); on an error the temporary file is
//! removed. Readers never see a half-written file.
//!
//! This module depends only on `error`, so every layer may use it; it is re-exported as
//! [`crate::io::write_atomic`] and [`crate::io::AtomicFile`].

use crate::error::{Error, Result};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Longest file name (in bytes) the temporary file may have: the common limit of ext4, XFS,
/// btrfs, APFS and NTFS.
const NAME_MAX: usize = 255;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The temporary file a write of `path` goes through: `.<name>.<pid>.<n>.tmp` in the same
/// directory, with `<name>` cut (at a character boundary) so the whole name fits in 255 bytes.
pub fn temp_path_for(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let suffix = format!(
        ".{}.{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let room = NAME_MAX - 1 - suffix.len();
    let mut cut = name.len().min(room);
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    path.with_file_name(format!(".{}{suffix}", &name[..cut]))
}

/// A file being written atomically: write to it (it implements [`Write`], buffered), then
/// [`commit`](AtomicFile::commit). Dropped without `commit` (an error, a panic), it removes
/// its temporary file and leaves the destination as it was.
pub struct AtomicFile {
    path: PathBuf,
    tmp: PathBuf,
    file: Option<BufWriter<File>>,
}

impl AtomicFile {
    /// Starts writing `path`: creates the temporary file next to it (parent directories must
    /// exist). Errors: [`Error::Io`] naming `path`.
    pub fn create(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        if path.file_name().is_none() {
            return Err(Error::io(&path, "not a file path"));
        }
        let tmp = temp_path_for(&path);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| Error::io(&path, format!("cannot create {}: {e}", tmp.display())))?;
        Ok(AtomicFile {
            path,
            tmp,
            file: Some(BufWriter::with_capacity(1 << 16, file)),
        })
    }

    /// The destination.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes, syncs and renames the temporary file over the destination. On error the
    /// temporary file is removed and the destination untouched.
    pub fn commit(mut self) -> Result<()> {
        let w = self.file.take().expect("file present until commit or drop");
        let result = (|| -> std::io::Result<()> {
            let f = w.into_inner().map_err(|e| e.into_error())?;
            f.sync_all()?;
            drop(f);
            std::fs::rename(&self.tmp, &self.path)?;
            // Make the rename durable (best effort: not every platform can open a directory).
            if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                if let Ok(d) = File::open(dir) {
                    let _ = d.sync_all();
                }
            }
            Ok(())
        })();
        result.map_err(|e| {
            let _ = std::fs::remove_file(&self.tmp);
            Error::io(
                &self.path,
                format!("cannot write (via {}): {e}", self.tmp.display()),
            )
        })
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file
            .as_mut()
            .expect("file present until commit")
            .write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file
            .as_mut()
            .expect("file present until commit")
            .flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Writes `bytes` to `path` atomically (see the module doc): afterwards `path` holds either
/// its old contents or all of `bytes`, never a mix or a truncated file. Parent directories
/// must exist. Errors: [`Error::Io`] naming `path`.
pub fn write_atomic(path: impl AsRef<Path>, bytes: impl AsRef<[u8]>) -> Result<()> {
    let path = path.as_ref();
    let mut f = AtomicFile::create(path)?;
    f.write_all(bytes.as_ref())
        .map_err(|e| Error::io(path, format!("cannot write: {e}")))?;
    f.commit()
}

/// Like [`write_atomic`], streaming: `fill` writes the contents into the temporary file. If
/// `fill` fails, the destination is untouched and the error returned.
pub fn write_atomic_with(
    path: impl AsRef<Path>,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let path = path.as_ref();
    let mut f = AtomicFile::create(path)?;
    fill(&mut f).map_err(|e| Error::io(path, format!("cannot write: {e}")))?;
    f.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_name_stays_within_the_limit() {
        let long = "é".repeat(200); // 400 bytes
        let t = temp_path_for(&Path::new("/tmp").join(&long));
        let n = t.file_name().unwrap().to_str().unwrap();
        assert!(n.len() <= NAME_MAX, "{}", n.len());
        assert!(n.starts_with(".é") && n.ends_with(".tmp"));
        assert_eq!(t.parent(), Some(Path::new("/tmp")));
    }
}
