//! CoNLL-2000 reader: one token per line, `WORD POS-TAG CHUNK-TAG` separated by whitespace;
//! a blank line ends a sentence.

use crate::error::{Error, Result};
use std::path::Path;

/// One tagged sentence: parallel vectors of words, POS tags and IOB chunk tags.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Sentence {
    /// The words as written (case kept).
    pub words: Vec<String>,
    /// Penn Treebank POS tags, one per word.
    pub pos: Vec<String>,
    /// IOB2 chunk tags (`B-NP`, `I-NP`, `O`, ...), one per word.
    pub chunks: Vec<String>,
}

impl Sentence {
    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.words.len()
    }
    /// True for a sentence without tokens.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }
}

/// Reads a CoNLL file. A line that does not have exactly three fields, or whose chunk tag is
/// neither `O` nor `B-TYPE` / `I-TYPE`, is an [`Error::Parse`] naming the file and the 1-based
/// line; a missing file is an [`Error::Io`] naming it.
pub fn read_conll(path: impl AsRef<Path>) -> Result<Vec<Sentence>> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse_conll(&text, path)
}

/// Parses CoNLL text; `path` is only used in error messages.
pub fn parse_conll(text: &str, path: impl AsRef<Path>) -> Result<Vec<Sentence>> {
    let path = path.as_ref();
    let mut out = Vec::new();
    let mut cur = Sentence::default();
    for (k, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let err = |message: String| Error::Parse {
            path: path.to_path_buf(),
            line: k + 1,
            message,
        };
        if fields.len() != 3 {
            return Err(err(format!(
                "expected 3 fields `WORD POS CHUNK`, got {} in {line:?}",
                fields.len()
            )));
        }
        let chunk = fields[2];
        let valid = chunk == "O"
            || ((chunk.starts_with("B-") || chunk.starts_with("I-")) && chunk.len() > 2);
        if !valid {
            return Err(err(format!(
                "chunk tag {chunk:?} is not `O`, `B-TYPE` or `I-TYPE`"
            )));
        }
        cur.words.push(fields[0].to_string());
        cur.pos.push(fields[1].to_string());
        cur.chunks.push(chunk.to_string());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    Ok(out)
}

/// Writes sentences in CoNLL format (the inverse of [`read_conll`]).
pub fn write_conll(sentences: &[Sentence], path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let mut s = String::new();
    for sent in sentences {
        for i in 0..sent.len() {
            s.push_str(&format!(
                "{} {} {}\n",
                sent.words[i], sent.pos[i], sent.chunks[i]
            ));
        }
        s.push('\n');
    }
    crate::atomic::write_atomic(path, s)
}
