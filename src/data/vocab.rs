//! Vocabularies as the reference scripts build them: lowercased training words seen at least
//! `min_count` times (sorted), `PAD = 0`, `UNK = 1`; tag vocabularies are the sorted training
//! tags after a `<pad>` entry at index 0. Also two extra per-token features for richer
//! models: a case class and a lowercased 3-letter suffix id.

use super::conll::Sentence;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Padding id (words, tags, features).
pub const PAD: i64 = 0;
/// Unknown-word id.
pub const UNK: i64 = 1;

/// Number of case classes returned by [`case_class`] (including padding 0).
pub const N_CASE_CLASSES: usize = 6;

/// A word vocabulary: lowercased words, `PAD = 0`, `UNK = 1`, then the known words.
#[derive(Clone, Debug, Default)]
pub struct WordVocab {
    index: HashMap<String, i64>,
    words: Vec<String>,
}

impl WordVocab {
    /// Lowercased `tokens` seen at least `min_count` times, sorted, after `<pad>` and `<unk>`.
    pub fn build<'a>(tokens: impl IntoIterator<Item = &'a str>, min_count: usize) -> Self {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for t in tokens {
            *counts.entry(t.to_lowercase()).or_default() += 1;
        }
        let mut words = vec!["<pad>".to_string(), "<unk>".to_string()];
        words.extend(
            counts
                .into_iter()
                .filter(|(_, c)| *c >= min_count)
                .map(|(w, _)| w),
        );
        let index = words
            .iter()
            .enumerate()
            .skip(2)
            .map(|(i, w)| (w.clone(), i as i64))
            .collect();
        WordVocab { index, words }
    }
    /// The id of `word` (lowercased), [`UNK`] if unknown.
    pub fn id(&self, word: &str) -> i64 {
        self.index.get(&word.to_lowercase()).copied().unwrap_or(UNK)
    }
    /// Vocabulary size including PAD and UNK.
    pub fn len(&self) -> usize {
        self.words.len()
    }
    /// True if only PAD and UNK exist.
    pub fn is_empty(&self) -> bool {
        self.words.len() <= 2
    }
    /// The word of id `i`.
    pub fn word(&self, i: usize) -> &str {
        &self.words[i]
    }
}

/// A tag vocabulary: `<pad>` at 0, then the sorted tags seen in training.
#[derive(Clone, Debug, Default)]
pub struct TagVocab {
    index: HashMap<String, i64>,
    tags: Vec<String>,
}

impl TagVocab {
    /// `<pad>` followed by the distinct `tags`, sorted.
    pub fn build<'a>(tags: impl IntoIterator<Item = &'a str>) -> Self {
        let set: BTreeSet<&str> = tags.into_iter().collect();
        let mut all = vec!["<pad>".to_string()];
        all.extend(set.into_iter().map(str::to_string));
        let index = all
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as i64))
            .collect();
        TagVocab { index, tags: all }
    }
    /// The id of `tag`; a tag never seen in training maps to 0 (padding) and so is always
    /// counted wrong, as in the reference scripts.
    pub fn id(&self, tag: &str) -> i64 {
        self.index.get(tag).copied().unwrap_or(PAD)
    }
    /// The tag of id `i`.
    pub fn tag(&self, i: usize) -> &str {
        &self.tags[i]
    }
    /// Number of classes including padding.
    pub fn len(&self) -> usize {
        self.tags.len()
    }
    /// True if there is no tag besides padding.
    pub fn is_empty(&self) -> bool {
        self.tags.len() <= 1
    }
    /// All tags, index order.
    pub fn tags(&self) -> &[String] {
        &self.tags
    }
}

/// Case class of a word: 1 all lowercase, 2 Capitalised, 3 ALL CAPS, 4 has a digit, 5 other
/// (punctuation, mixed). 0 is padding.
pub fn case_class(word: &str) -> i64 {
    if word.chars().any(|c| c.is_ascii_digit()) {
        4
    } else if word.chars().all(|c| c.is_lowercase()) {
        1
    } else if word.chars().all(|c| c.is_uppercase()) && word.len() > 1 {
        3
    } else if word.chars().next().is_some_and(char::is_uppercase)
        && word.chars().skip(1).all(|c| !c.is_uppercase())
    {
        2
    } else {
        5
    }
}

fn suffix(word: &str) -> String {
    let w: Vec<char> = word.to_lowercase().chars().collect();
    w[w.len().saturating_sub(3)..].iter().collect()
}

/// One sentence as ids (all `i64`, one entry per token).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct EncodedSentence {
    /// Word ids.
    pub words: Vec<i64>,
    /// POS tag ids.
    pub pos: Vec<i64>,
    /// Chunk tag ids.
    pub chunks: Vec<i64>,
    /// Case classes ([`case_class`]).
    pub case: Vec<i64>,
    /// Suffix ids (lowercased last 3 characters; `UNK` when rare).
    pub suffix: Vec<i64>,
}

impl EncodedSentence {
    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.words.len()
    }
    /// True for an empty sentence.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }
}

/// The vocabularies of the POS + chunk tagger, built from the training sentences.
#[derive(Clone, Debug, Default)]
pub struct TaggerVocab {
    /// Lowercased words seen at least `min_count` times.
    pub words: WordVocab,
    /// POS tags (`<pad>` first).
    pub pos: TagVocab,
    /// Chunk tags (`<pad>` first).
    pub chunks: TagVocab,
    /// Lowercased 3-letter suffixes seen at least `min_count` times.
    pub suffixes: WordVocab,
}

impl TaggerVocab {
    /// Builds all vocabularies from `train` (the reference uses `min_count = 2`).
    pub fn build(train: &[Sentence], min_count: usize) -> Self {
        let all_words = || {
            train
                .iter()
                .flat_map(|s| s.words.iter().map(String::as_str))
        };
        let sfx: Vec<String> = all_words().map(suffix).collect();
        TaggerVocab {
            words: WordVocab::build(all_words(), min_count),
            pos: TagVocab::build(train.iter().flat_map(|s| s.pos.iter().map(String::as_str))),
            chunks: TagVocab::build(
                train
                    .iter()
                    .flat_map(|s| s.chunks.iter().map(String::as_str)),
            ),
            suffixes: WordVocab::build(sfx.iter().map(String::as_str), min_count),
        }
    }

    /// Encodes sentences into ids.
    pub fn encode(&self, sentences: &[Sentence]) -> Vec<EncodedSentence> {
        sentences
            .iter()
            .map(|s| EncodedSentence {
                words: s.words.iter().map(|w| self.words.id(w)).collect(),
                pos: s.pos.iter().map(|t| self.pos.id(t)).collect(),
                chunks: s.chunks.iter().map(|t| self.chunks.id(t)).collect(),
                case: s.words.iter().map(|w| case_class(w)).collect(),
                suffix: s
                    .words
                    .iter()
                    .map(|w| self.suffixes.id(&suffix(w)))
                    .collect(),
            })
            .collect()
    }

    /// Fraction of tokens in `sentences` whose word is unknown.
    pub fn unk_rate(&self, sentences: &[Sentence]) -> f64 {
        let (mut n, mut unk) = (0usize, 0usize);
        for s in sentences {
            for w in &s.words {
                n += 1;
                unk += (self.words.id(w) == UNK) as usize;
            }
        }
        unk as f64 / n.max(1) as f64
    }
}
