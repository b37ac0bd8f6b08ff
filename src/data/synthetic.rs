//! A deterministic synthetic POS + chunk corpus, used when CoNLL-2000 is not available.
//!
//! Sentences come from a small grammar of clauses (`NP VP object`, joined by `, CC` or an
//! `SBAR` subordinator) over generated pseudo-words. Chunk tags follow the POS structure
//! (`B-NP I-NP`, `B-VP I-VP`, `B-PP`, `B-ADJP`, `B-ADVP`, `B-SBAR`, `O`) and some stems
//! are both nouns and verbs, so POS depends on context. Word frequencies are skewed, so
//! rare words become UNK as in real text. The generator uses its own SplitMix64, so the
//! corpus is identical on every platform and crate version.

use super::conll::Sentence;

/// Training and test sentences of the synthetic corpus.
#[derive(Clone, Debug)]
pub struct SyntheticCorpus {
    /// Training sentences.
    pub train: Vec<Sentence>,
    /// Test sentences (same grammar, other random draws).
    pub test: Vec<Sentence>,
}

/// The default synthetic corpus: 4,000 training and 1,000 test sentences.
pub fn synthetic_corpus() -> SyntheticCorpus {
    synthetic_corpus_sized(4000, 1000)
}

/// A synthetic corpus with `n_train` training and `n_test` test sentences.
pub fn synthetic_corpus_sized(n_train: usize, n_test: usize) -> SyntheticCorpus {
    let lex = Lexicon::new();
    let mut rng = SplitMix(0x5EED_C0DE);
    let train = (0..n_train).map(|_| sentence(&lex, &mut rng)).collect();
    let mut rng = SplitMix(0x7E57_0001);
    let test = (0..n_test).map(|_| sentence(&lex, &mut rng)).collect();
    SyntheticCorpus { train, test }
}

struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: usize) -> usize {
        (self.unit() * n as f64) as usize % n.max(1)
    }
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    /// Zipf-like skewed index in 0..n (small indices are frequent).
    fn skewed(&mut self, n: usize) -> usize {
        let u = self.unit();
        ((u * u * u) * n as f64) as usize % n.max(1)
    }
}

const SYLLABLES: [&str; 20] = [
    "ka", "lo", "mi", "ru", "te", "sa", "po", "ne", "di", "fu", "ba", "ve", "zo", "gi", "ha", "ju",
    "ro", "pe", "ti", "mo",
];

fn stem(kind: u64, i: usize) -> String {
    let mut r = SplitMix(kind.wrapping_mul(1_000_003) ^ i as u64);
    let n = 2 + r.below(2);
    (0..n)
        .map(|_| SYLLABLES[r.below(SYLLABLES.len())])
        .collect()
}

struct Lexicon {
    nouns: Vec<String>,
    verbs: Vec<String>,
    adjs: Vec<String>,
    advs: Vec<String>,
    names: Vec<String>,
}

impl Lexicon {
    fn new() -> Self {
        // The first 40 verb stems are also noun stems: "the X" is NN, "will X" is VB.
        let nouns: Vec<String> = (0..400).map(|i| stem(1, i)).collect();
        let verbs: Vec<String> = (0..250)
            .map(|i| {
                if i < 40 {
                    nouns[i * 3].clone()
                } else {
                    stem(2, i)
                }
            })
            .collect();
        let adjs = (0..200)
            .map(|i| format!("{}{}", stem(3, i), ["ous", "ive", "al", "ic"][i % 4]))
            .collect();
        let advs = (0..60).map(|i| format!("{}ly", stem(4, i))).collect();
        let names = (0..200)
            .map(|i| {
                let s = stem(5, i);
                let mut c = s.chars();
                let first = c.next().expect("non-empty").to_ascii_uppercase();
                format!("{first}{}", c.as_str())
            })
            .collect();
        Lexicon {
            nouns,
            verbs,
            adjs,
            advs,
            names,
        }
    }
}

struct Builder {
    s: Sentence,
}

impl Builder {
    fn push(&mut self, word: &str, pos: &str, chunk: &str) {
        self.s.words.push(word.to_string());
        self.s.pos.push(pos.to_string());
        self.s.chunks.push(chunk.to_string());
    }
    /// Pushes a chunk: the first token gets `B-kind`, the rest `I-kind`.
    fn chunk(&mut self, kind: &str, tokens: &[(String, &str)]) {
        for (k, (w, p)) in tokens.iter().enumerate() {
            let tag = if k == 0 {
                format!("B-{kind}")
            } else {
                format!("I-{kind}")
            };
            self.push(w, p, &tag);
        }
    }
}

fn pick(rng: &mut SplitMix, xs: &[&str]) -> String {
    xs[rng.below(xs.len())].to_string()
}

fn noun_phrase(lex: &Lexicon, rng: &mut SplitMix, b: &mut Builder, subject: bool) {
    let mut t: Vec<(String, &str)> = Vec::new();
    let r = rng.unit();
    if r < 0.12 {
        let w = pick(rng, &["he", "she", "it", "they", "we"]);
        t.push((if subject { w } else { "them".into() }, "PRP"));
    } else if r < 0.27 {
        t.push((lex.names[rng.skewed(lex.names.len())].clone(), "NNP"));
        if rng.chance(0.4) {
            t.push((lex.names[rng.skewed(lex.names.len())].clone(), "NNP"));
        }
    } else if r < 0.35 {
        t.push((format!("{}", 2 + rng.below(98)), "CD"));
        t.push((
            format!("{}s", lex.nouns[rng.skewed(lex.nouns.len())]),
            "NNS",
        ));
    } else {
        let plural = rng.chance(0.3);
        if !plural || rng.chance(0.5) {
            let dt: &[&str] = if plural {
                &["the", "some", "these", "many"]
            } else {
                &["the", "a", "this", "every", "that"]
            };
            t.push((pick(rng, dt), "DT"));
        }
        let n_adj = if rng.chance(0.45) {
            1 + rng.below(2)
        } else {
            0
        };
        for _ in 0..n_adj {
            t.push((lex.adjs[rng.skewed(lex.adjs.len())].clone(), "JJ"));
        }
        if rng.chance(0.15) {
            // noun-noun compound
            t.push((lex.nouns[rng.skewed(lex.nouns.len())].clone(), "NN"));
        }
        let n = lex.nouns[rng.skewed(lex.nouns.len())].clone();
        if plural {
            t.push((format!("{n}s"), "NNS"));
        } else {
            t.push((n, "NN"));
        }
    }
    b.chunk("NP", &t);
}

fn verb_phrase(lex: &Lexicon, rng: &mut SplitMix, b: &mut Builder) -> bool {
    let v = lex.verbs[rng.skewed(lex.verbs.len())].clone();
    let mut t: Vec<(String, &str)> = Vec::new();
    let r = rng.unit();
    let copula = r < 0.15;
    if copula {
        t.push((pick(rng, &["is", "was", "seems"]), "VBZ"));
    } else if r < 0.4 {
        t.push((pick(rng, &["will", "can", "would", "may"]), "MD"));
        if rng.chance(0.2) {
            t.push((lex.advs[rng.skewed(lex.advs.len())].clone(), "RB"));
        }
        t.push((v, "VB"));
    } else if r < 0.7 {
        t.push((format!("{v}ed"), "VBD"));
        if rng.chance(0.2) {
            t.push(("to".into(), "TO"));
            t.push((lex.verbs[rng.skewed(lex.verbs.len())].clone(), "VB"));
        }
    } else {
        t.push((format!("{v}s"), "VBZ"));
    }
    b.chunk("VP", &t);
    copula
}

fn clause(lex: &Lexicon, rng: &mut SplitMix, b: &mut Builder, depth: usize) {
    noun_phrase(lex, rng, b, true);
    let copula = verb_phrase(lex, rng, b);
    if copula {
        let mut t: Vec<(String, &str)> = Vec::new();
        if rng.chance(0.3) {
            t.push((pick(rng, &["very", "quite", "too"]), "RB"));
        }
        t.push((lex.adjs[rng.skewed(lex.adjs.len())].clone(), "JJ"));
        b.chunk("ADJP", &t);
    } else {
        match rng.below(4) {
            0 | 1 => noun_phrase(lex, rng, b, false),
            2 => {
                b.chunk(
                    "ADVP",
                    &[(lex.advs[rng.skewed(lex.advs.len())].clone(), "RB")],
                );
                if rng.chance(0.5) {
                    noun_phrase(lex, rng, b, false);
                }
            }
            _ => {}
        }
    }
    while rng.chance(0.35) {
        let prep = pick(rng, &["in", "on", "of", "for", "with", "from", "by", "at"]);
        b.chunk("PP", &[(prep, "IN")]);
        noun_phrase(lex, rng, b, false);
    }
    if depth < 1 && rng.chance(0.25) {
        let sub = pick(rng, &["because", "although", "that", "if", "while"]);
        b.chunk("SBAR", &[(sub, "IN")]);
        clause(lex, rng, b, depth + 1);
    }
}

fn sentence(lex: &Lexicon, rng: &mut SplitMix) -> Sentence {
    let mut b = Builder {
        s: Sentence::default(),
    };
    clause(lex, rng, &mut b, 0);
    if rng.chance(0.25) {
        b.push(",", ",", "O");
        b.push(&pick(rng, &["and", "but", "or"]), "CC", "O");
        clause(lex, rng, &mut b, 1);
    }
    b.push(".", ".", "O");
    // Capitalise the first word as in real text (the vocabulary lowercases it again).
    if let Some(w) = b.s.words.first_mut() {
        let mut c = w.chars();
        if let Some(f) = c.next() {
            *w = format!("{}{}", f.to_uppercase(), c.as_str());
        }
    }
    b.s
}
