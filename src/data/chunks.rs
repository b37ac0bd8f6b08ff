//! conlleval-style chunk extraction and scoring (IOB2 tags: `B-X`, `I-X`, `O`).
//!
//! A chunk is `(start, end, type)` with `end` exclusive. A chunk starts at `B-X`, at `I-X`
//! after `O` (an `I-` without a `B-`), or at any tag whose type differs from the previous
//! one; it ends before `B-`, before `O`, before a type change, and at the sentence end.
//! A predicted chunk counts as correct only if its span and its type both match a gold one.

use super::conll::Sentence;
use super::vocab::TaggerVocab;
use crate::error::{Error, Result};
use std::collections::BTreeSet;

/// A chunk: tokens `start..end` of type `kind` (e.g. `NP`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Chunk {
    /// First token.
    pub start: usize,
    /// One past the last token.
    pub end: usize,
    /// Chunk type without the `B-`/`I-` prefix.
    pub kind: String,
}

fn split(tag: &str) -> (&str, &str) {
    if tag == "O" || tag == "<pad>" {
        return ("O", "");
    }
    match tag.split_once('-') {
        Some((p, t)) => (p, t),
        None => (tag, ""),
    }
}

fn end_of_chunk(pp: &str, pt: &str, p: &str, t: &str) -> bool {
    ((pp == "B" || pp == "I") && (p == "B" || p == "O")) || (pp != "O" && pt != t)
}

fn start_of_chunk(pp: &str, pt: &str, p: &str, t: &str) -> bool {
    p == "B" || (pp == "O" && p == "I") || (p != "O" && pt != t)
}

/// The chunks of one sentence's tag sequence, conlleval rules (see the module doc).
pub fn extract_chunks<S: AsRef<str>>(tags: &[S]) -> BTreeSet<Chunk> {
    let mut out = BTreeSet::new();
    let mut start: Option<(usize, String)> = None;
    let (mut pp, mut pt) = ("O", "");
    for i in 0..=tags.len() {
        let (p, t) = if i < tags.len() {
            split(tags[i].as_ref())
        } else {
            ("O", "")
        };
        if start.is_some() && end_of_chunk(pp, pt, p, t) {
            let (s, kind) = start.take().expect("checked");
            out.insert(Chunk {
                start: s,
                end: i,
                kind,
            });
        }
        if p != "O" && start_of_chunk(pp, pt, p, t) {
            start = Some((i, t.to_string()));
        }
        pp = p;
        pt = t;
    }
    out
}

/// Chunk counts and the derived precision, recall and F1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChunkScore {
    /// Predicted chunks whose span and type match a gold chunk.
    pub correct: usize,
    /// Gold chunks.
    pub gold: usize,
    /// Predicted chunks.
    pub predicted: usize,
}

impl ChunkScore {
    /// correct / predicted (0 if nothing was predicted).
    pub fn precision(&self) -> f64 {
        if self.predicted == 0 {
            0.0
        } else {
            self.correct as f64 / self.predicted as f64
        }
    }
    /// correct / gold (0 if there is no gold chunk).
    pub fn recall(&self) -> f64 {
        if self.gold == 0 {
            0.0
        } else {
            self.correct as f64 / self.gold as f64
        }
    }
    /// Harmonic mean of precision and recall (0 if both are 0).
    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
    /// Adds the counts of one sentence.
    pub fn add<S: AsRef<str>, T: AsRef<str>>(&mut self, gold: &[S], predicted: &[T]) {
        let g = extract_chunks(gold);
        let p = extract_chunks(predicted);
        self.correct += g.intersection(&p).count();
        self.gold += g.len();
        self.predicted += p.len();
    }
}

/// Chunk precision / recall / F1 over parallel gold and predicted tag sequences.
pub fn chunk_f1<S: AsRef<str>, T: AsRef<str>>(gold: &[Vec<S>], predicted: &[Vec<T>]) -> ChunkScore {
    let mut s = ChunkScore::default();
    for (g, p) in gold.iter().zip(predicted) {
        s.add(g, p);
    }
    s
}

/// Test-set scores of the two-task tagger.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TaggingScore {
    /// POS token accuracy.
    pub pos_acc: f64,
    /// Chunk tag token accuracy.
    pub chunk_acc: f64,
    /// Chunk counts (F1 via [`ChunkScore::f1`]).
    pub chunk: ChunkScore,
    /// Number of scored tokens.
    pub tokens: usize,
}

/// Scores predicted tag ids (one vector per sentence, true length) against the gold tag
/// strings: a gold tag absent from the training vocabulary is always counted wrong.
///
/// Errors ([`Error::InvalidArgument`]): a different number of predicted sentences, a
/// prediction shorter or longer than its sentence, or a class id outside the vocabulary.
pub fn score_tagging(
    gold: &[Sentence],
    pos_pred: &[Vec<usize>],
    chunk_pred: &[Vec<usize>],
    vocab: &TaggerVocab,
) -> Result<TaggingScore> {
    if pos_pred.len() != gold.len() || chunk_pred.len() != gold.len() {
        return Err(Error::InvalidArgument(format!(
            "score_tagging: {} gold sentences but {} POS and {} chunk predictions",
            gold.len(),
            pos_pred.len(),
            chunk_pred.len()
        )));
    }
    let (mut n, mut pos_ok, mut chunk_ok) = (0usize, 0usize, 0usize);
    let mut chunk = ChunkScore::default();
    for (k, ((s, pp), cp)) in gold.iter().zip(pos_pred).zip(chunk_pred).enumerate() {
        if pp.len() != s.len() || cp.len() != s.len() {
            return Err(Error::InvalidArgument(format!(
                "score_tagging: sentence {k} has {} tokens but {} POS and {} chunk predictions",
                s.len(),
                pp.len(),
                cp.len()
            )));
        }
        let tag = |tags: &super::vocab::TagVocab, c: usize| -> Result<String> {
            if c < tags.len() {
                Ok(tags.tag(c).to_string())
            } else {
                Err(Error::InvalidArgument(format!(
                    "score_tagging: sentence {k}: class {c} is not one of the {} tags",
                    tags.len()
                )))
            }
        };
        let pred_chunks: Vec<String> = cp
            .iter()
            .map(|&c| tag(&vocab.chunks, c))
            .collect::<Result<_>>()?;
        for i in 0..s.len() {
            n += 1;
            pos_ok += (tag(&vocab.pos, pp[i])? == s.pos[i]) as usize;
            chunk_ok += (pred_chunks[i] == s.chunks[i]) as usize;
        }
        let refs: Vec<&str> = pred_chunks.iter().map(String::as_str).collect();
        chunk.add(&s.chunks, &refs);
    }
    Ok(TaggingScore {
        pos_acc: pos_ok as f64 / n.max(1) as f64,
        chunk_acc: chunk_ok as f64 / n.max(1) as f64,
        chunk,
        tokens: n,
    })
}
