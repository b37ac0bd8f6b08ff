//! The two-task POS + chunk tagger of the "Multi-Task Learning in TensorFlow (Part 2)"
//! tutorial, as the reference scripts in `shared/bench/pos_chunk_*.py` build it, plus its
//! training driver (joint, alternate and single-task regimes) and evaluation. The example
//! `pos_chunk` and the tests share this code.
//!
//! Default graph (shapes with `B` sentences of `T` steps, `N = B*T`):
//! ```text
//! words [B,T] -> word_emb [V,100] -> encoder LSTM 128 -> pos_decoder LSTM 128
//!   -> pos_out dense -> pos_logits [N, n_pos]
//! concat(encoder [B,T,128], softmax(pos_logits) · pos_to_chunk_emb [n_pos,32])
//!   -> chunk_decoder LSTM 128 -> chunk_out dense -> chunk_logits [N, n_chunk]
//! loss per task = sum(xent * mask) / sum(mask); pos_op, chunk_op, joint_op = one Adam each
//! (lr 1e-3, gradients clipped to global norm 5), all incrementing `global_step`.
//! ```
//! The best configuration adds case and suffix embeddings, a bidirectional encoder and
//! dropout (driven by the `keep_prob` placeholder, 1.0 unless fed).

use crate::data::{
    eval_batches, make_batch, score_tagging, train_batches, vocab::N_CASE_CLASSES, EncodedSentence,
    Sentence, TaggedBatch, TaggerVocab, TaggingScore,
};
use crate::error::{Error, Result};
use crate::graph::{DType, Graph, Operation, Tensor};
use crate::init;
use crate::layers::lstm::Lstm;
use crate::ops::array::{expand_dims, reshape, reshape_like};
use crate::ops::concat::concat;
use crate::ops::gather::embedding_lookup;
use crate::ops::matmul::matmul;
use crate::ops::nn::{softmax, sparse_softmax_cross_entropy_with_logits};
use crate::ops::reduce::reduce_sum_all;
use crate::ops::unary::placeholder_with_default;
use crate::session::Session;
use crate::train::{get_or_create_global_step, Adam, Optimizer};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::Instant;

/// Hyper-parameters of the tagger.
#[derive(Clone, Debug, PartialEq)]
pub struct TaggerConfig {
    /// Word vocabulary size (with PAD and UNK).
    pub n_words: usize,
    /// POS classes (with padding at 0).
    pub n_pos: usize,
    /// Chunk classes (with padding at 0).
    pub n_chunks: usize,
    /// Suffix vocabulary size (used when `suffix_dim > 0`).
    pub n_suffixes: usize,
    /// Word embedding size (100).
    pub emb_dim: usize,
    /// Case-class embedding size; 0 = no case feature.
    pub case_dim: usize,
    /// Suffix embedding size; 0 = no suffix feature.
    pub suffix_dim: usize,
    /// LSTM size of the encoder and both decoders (128).
    pub hidden: usize,
    /// Size of the POS-to-chunk embedding (32).
    pub pos_emb_dim: usize,
    /// A backward LSTM next to the forward encoder (outputs concatenated).
    pub bidirectional: bool,
    /// Keep probability of dropout during training; 1.0 = no dropout op in the graph.
    pub keep_prob: f32,
    /// Adam learning rate (1e-3).
    pub learning_rate: f32,
    /// Global-norm gradient clipping per train op (5).
    pub clip_norm: f32,
}

/// Word vocabulary size of CoNLL-2000 with the reference's rules (PAD and UNK included).
pub const CONLL2000_WORDS: usize = 8934;
/// POS classes of CoNLL-2000 training data, padding included.
pub const CONLL2000_POS: usize = 45;
/// Chunk classes of CoNLL-2000 training data, padding included.
pub const CONLL2000_CHUNKS: usize = 23;

impl TaggerConfig {
    /// The tutorial's / reference scripts' model for these vocabularies.
    pub fn tutorial(vocab: &TaggerVocab) -> Self {
        Self::tutorial_sized(
            vocab.words.len(),
            vocab.pos.len(),
            vocab.chunks.len(),
            vocab.suffixes.len(),
        )
    }

    /// The tutorial model on CoNLL-2000 (the graph in `graphs/pos_chunk.json`).
    pub fn conll2000_tutorial() -> Self {
        Self::tutorial_sized(CONLL2000_WORDS, CONLL2000_POS, CONLL2000_CHUNKS, 0)
    }

    /// The tutorial model for vocabularies of these sizes (padding / PAD+UNK included).
    pub fn tutorial_sized(
        n_words: usize,
        n_pos: usize,
        n_chunks: usize,
        n_suffixes: usize,
    ) -> Self {
        TaggerConfig {
            n_words,
            n_pos,
            n_chunks,
            n_suffixes,
            emb_dim: 100,
            case_dim: 0,
            suffix_dim: 0,
            hidden: 128,
            pos_emb_dim: 32,
            bidirectional: false,
            keep_prob: 1.0,
            learning_rate: 1e-3,
            clip_norm: 5.0,
        }
    }

    /// The best configuration: case and suffix features, a bidirectional encoder, dropout.
    pub fn best(vocab: &TaggerVocab) -> Self {
        TaggerConfig {
            case_dim: 8,
            suffix_dim: 32,
            bidirectional: true,
            keep_prob: 0.7,
            learning_rate: 2e-3,
            ..Self::tutorial(vocab)
        }
    }
}

/// Which train op each batch runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Regime {
    /// `joint_op` (pos_loss + chunk_loss) every batch.
    Joint,
    /// `pos_op` with probability `p_pos`, else `chunk_op`, per batch.
    Alternate,
    /// `pos_op` every batch.
    PosOnly,
    /// `chunk_op` every batch.
    ChunkOnly,
    /// The [`crate::mtl`] strategy's train op every batch (a tagger built with
    /// [`Tagger::build_with_strategy`]).
    Strategy,
}

impl Regime {
    /// The four classic regimes, in table order (not [`Regime::Strategy`]).
    pub const ALL: [Regime; 4] = [
        Regime::Joint,
        Regime::Alternate,
        Regime::PosOnly,
        Regime::ChunkOnly,
    ];
    /// `joint`, `alternate`, `pos_only`, `chunk_only`, `strategy`.
    pub fn name(self) -> &'static str {
        match self {
            Regime::Strategy => "strategy",
            Regime::Joint => "joint",
            Regime::Alternate => "alternate",
            Regime::PosOnly => "pos_only",
            Regime::ChunkOnly => "chunk_only",
        }
    }
    /// Parses a name of [`Regime::name`].
    pub fn parse(s: &str) -> Result<Self> {
        Regime::ALL
            .into_iter()
            .find(|r| r.name() == s)
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "unknown regime `{s}` (joint, alternate, pos_only, chunk_only)"
                ))
            })
    }
    /// Whether the regime trains the POS head.
    pub fn trains_pos(self) -> bool {
        self != Regime::ChunkOnly
    }
    /// Whether the regime trains the chunk head.
    pub fn trains_chunks(self) -> bool {
        self != Regime::PosOnly
    }
}

/// The built tagger graph: placeholders, outputs, losses and the three train ops.
pub struct Tagger<'g> {
    /// The graph.
    pub graph: &'g Graph,
    /// Its configuration.
    pub config: TaggerConfig,
    /// Word ids, i64 `[B, T]`.
    pub words: Tensor<'g>,
    /// Case classes, i64 `[B, T]` (only in graphs with `case_dim > 0`).
    pub case: Option<Tensor<'g>>,
    /// Suffix ids, i64 `[B, T]` (only in graphs with `suffix_dim > 0`).
    pub suffix: Option<Tensor<'g>>,
    /// POS tag ids, i64 `[B, T]`.
    pub pos: Tensor<'g>,
    /// Chunk tag ids, i64 `[B, T]`.
    pub chunks: Tensor<'g>,
    /// 1.0 on real tokens, f32 `[B, T]`.
    pub mask: Tensor<'g>,
    /// Dropout keep probability (scalar, 1.0 unless fed; only with `keep_prob < 1`).
    pub keep_prob: Option<Tensor<'g>>,
    /// POS logits `[B*T, n_pos]`.
    pub pos_logits: Tensor<'g>,
    /// Chunk logits `[B*T, n_chunks]`.
    pub chunk_logits: Tensor<'g>,
    /// Masked mean POS cross-entropy (scalar).
    pub pos_loss: Tensor<'g>,
    /// Masked mean chunk cross-entropy (scalar).
    pub chunk_loss: Tensor<'g>,
    /// `pos_loss + chunk_loss`.
    pub joint_loss: Tensor<'g>,
    /// Adam on `pos_loss` (updates only the POS path).
    pub pos_op: Operation<'g>,
    /// Adam on `chunk_loss`.
    pub chunk_op: Operation<'g>,
    /// Adam on `joint_loss`.
    pub joint_op: Operation<'g>,
    /// The multi-task strategy's step (tasks `pos` and `chunk`, Adam with the same learning
    /// rate, clipping and global step), with its diagnostics; `None` unless built with
    /// [`Tagger::build_with_strategy`].
    pub strategy: Option<crate::mtl::Train<'g>>,
    /// The i64 step counter every train op increments.
    pub global_step: Tensor<'g>,
}

/// `x [B, T, d]` times `w [d, n]` plus `b [n]`, flattened to `[B*T, n]`.
fn dense_2d<'g>(x: Tensor<'g>, d: usize, w: Tensor<'g>, b: Tensor<'g>) -> Tensor<'g> {
    matmul(reshape(x, &[-1, d as i64]), w) + b
}

impl<'g> Tagger<'g> {
    /// Builds the tagger in `g` (variables, losses and the three train ops).
    pub fn build(g: &'g Graph, config: &TaggerConfig) -> Result<Self> {
        Self::build_with(g, config, &|adam| Box::new(adam), None)
    }

    /// [`Tagger::build`], plus, with `Some(name)`, the train op of the [`crate::mtl`]
    /// strategy `name` ([`crate::mtl::by_name`]) on the tasks `pos` and `chunk`, in the name
    /// scope `strategy_op` (run it with [`Regime::Strategy`]).
    pub fn build_with_strategy(
        g: &'g Graph,
        config: &TaggerConfig,
        strategy: Option<&str>,
    ) -> Result<Self> {
        Self::build_with(g, config, &|adam| Box::new(adam), strategy)
    }

    /// Like [`Tagger::build_with_strategy`], with each train op's Adam passed through
    /// `optimizer` first (e.g. wrapped for data-parallel training by
    /// `distributed::World::optimizer`).
    pub fn build_with(
        g: &'g Graph,
        config: &TaggerConfig,
        optimizer: &dyn Fn(Adam) -> Box<dyn Optimizer>,
        strategy: Option<&str>,
    ) -> Result<Self> {
        let c = config;
        let words = g.placeholder_typed("words", DType::I64, [None, None]);
        let pos = g.placeholder_typed("pos", DType::I64, [None, None]);
        let chunks = g.placeholder_typed("chunks", DType::I64, [None, None]);
        let mask = g.placeholder("mask", [None, None]);
        let case = (c.case_dim > 0).then(|| g.placeholder_typed("case", DType::I64, [None, None]));
        let suffix =
            (c.suffix_dim > 0).then(|| g.placeholder_typed("suffix", DType::I64, [None, None]));
        let keep_prob =
            (c.keep_prob < 1.0).then(|| placeholder_with_default(g.constant(1.0f32), "keep_prob"));
        let drop = |x: Tensor<'g>| match keep_prob {
            Some(k) => crate::ops::nn::dropout(x, k),
            None => x,
        };

        let uni = |shape: &[usize]| init::random_uniform(shape, -0.1, 0.1);
        let word_emb = g.variable("word_emb", uni(&[c.n_words, c.emb_dim]));
        let mut inputs = vec![embedding_lookup(word_emb, words)];
        let mut in_dim = c.emb_dim;
        if let Some(case) = case {
            let e = g.variable("case_emb", uni(&[N_CASE_CLASSES, c.case_dim]));
            inputs.push(embedding_lookup(e, case));
            in_dim += c.case_dim;
        }
        if let Some(suffix) = suffix {
            let e = g.variable("suffix_emb", uni(&[c.n_suffixes, c.suffix_dim]));
            inputs.push(embedding_lookup(e, suffix));
            in_dim += c.suffix_dim;
        }
        let x = if inputs.len() == 1 {
            inputs[0]
        } else {
            concat(&inputs, 2)
        };
        let x = drop(x);

        let h = c.hidden;
        let mut enc = Lstm::new(g, "encoder", in_dim, h).apply(x, mask);
        let mut enc_dim = h;
        if c.bidirectional {
            let bwd = Lstm::new(g, "encoder_bw", in_dim, h).apply_reverse(x, mask);
            enc = concat(&[enc, bwd], 2);
            enc_dim += h;
        }
        let enc = drop(enc);

        let dense_vars = |scope: &str, n_in: usize, n_out: usize| {
            let _s = g.name_scope(scope);
            (
                g.variable("w", init::glorot_uniform(&[n_in, n_out])),
                g.variable("b", init::zeros(&[n_out])),
            )
        };
        let pos_h = drop(Lstm::new(g, "pos_decoder", enc_dim, h).apply(enc, mask));
        let (pw, pb) = dense_vars("pos_out", h, c.n_pos);
        let pos_logits = dense_2d(pos_h, h, pw, pb).named("pos_logits");

        let pos_to_chunk = g.variable("pos_to_chunk_emb", uni(&[c.n_pos, c.pos_emb_dim]));
        let pos_pred = matmul(softmax(pos_logits), pos_to_chunk);
        // Back to [B, T, 32]: the mask broadcast against a [32] row gives the runtime shape.
        let like = expand_dims(mask, -1) * g.constant(ndarray::Array1::<f32>::zeros(c.pos_emb_dim));
        let pos_pred = reshape_like(pos_pred, like);
        let chunk_in = concat(&[enc, pos_pred], 2);
        let chunk_h =
            drop(Lstm::new(g, "chunk_decoder", enc_dim + c.pos_emb_dim, h).apply(chunk_in, mask));
        let (cw, cb) = dense_vars("chunk_out", h, c.n_chunks);
        let chunk_logits = dense_2d(chunk_h, h, cw, cb).named("chunk_logits");

        let flat_mask = reshape(mask, &[-1]);
        let n_tokens = reduce_sum_all(flat_mask);
        let xent = |labels: Tensor<'g>, logits: Tensor<'g>| {
            let ce = sparse_softmax_cross_entropy_with_logits(reshape(labels, &[-1]), logits);
            reduce_sum_all(ce * flat_mask) / n_tokens
        };
        let pos_loss = xent(pos, pos_logits).named("pos_loss");
        let chunk_loss = xent(chunks, chunk_logits).named("chunk_loss");
        let joint_loss = (pos_loss + chunk_loss).named("joint_loss");

        let global_step = get_or_create_global_step(g)?;
        let opt = |name: &str, loss: Tensor<'g>| -> Result<Operation<'g>> {
            let _s = g.name_scope(name);
            optimizer(
                Adam::new(c.learning_rate)
                    .with_clip_norm(c.clip_norm)
                    .with_global_step(global_step),
            )
            .minimize(loss)
        };
        let pos_op = opt("pos_op", pos_loss)?;
        let chunk_op = opt("chunk_op", chunk_loss)?;
        let joint_op = opt("joint_op", joint_loss)?;
        let strategy = match strategy {
            Some(name) => {
                let s = crate::mtl::by_name(name)?;
                let tasks = crate::mtl::Tasks::new(g)
                    .task_with_kind("pos", pos_loss, crate::mtl::TaskKind::Classification)
                    .task_with_kind("chunk", chunk_loss, crate::mtl::TaskKind::Classification);
                let _s = g.name_scope("strategy_op");
                let adam = optimizer(
                    Adam::new(c.learning_rate)
                        .with_clip_norm(c.clip_norm)
                        .with_global_step(global_step),
                );
                Some(s.minimize(&*adam, &tasks)?)
            }
            None => None,
        };
        g.check()?;
        Ok(Tagger {
            graph: g,
            config: c.clone(),
            words,
            case,
            suffix,
            pos,
            chunks,
            mask,
            keep_prob,
            pos_logits,
            chunk_logits,
            pos_loss,
            chunk_loss,
            joint_loss,
            pos_op,
            chunk_op,
            joint_op,
            strategy,
            global_step,
        })
    }

    /// Input feeds for a batch (words, mask and the optional features).
    fn input_feeds<'a>(&self, b: &'a TaggedBatch) -> Vec<(Tensor<'g>, crate::ValueView<'a>)> {
        let mut f = vec![
            (self.words, (&b.words).into()),
            (self.mask, (&b.mask).into()),
        ];
        if let Some(t) = self.case {
            f.push((t, (&b.case).into()));
        }
        if let Some(t) = self.suffix {
            f.push((t, (&b.suffix).into()));
        }
        f
    }

    /// The train op a regime runs for one batch (`rng` draws the alternate choice;
    /// [`Regime::Strategy`] without a strategy op: `joint_op`, which [`train`] refuses).
    pub fn pick_op(&self, regime: Regime, p_pos: f64, rng: &mut impl Rng) -> Operation<'g> {
        match regime {
            Regime::Strategy => self.strategy.as_ref().map_or(self.joint_op, |t| t.op),
            Regime::Joint => self.joint_op,
            Regime::PosOnly => self.pos_op,
            Regime::ChunkOnly => self.chunk_op,
            Regime::Alternate => {
                if rng.gen::<f64>() < p_pos {
                    self.pos_op
                } else {
                    self.chunk_op
                }
            }
        }
    }

    /// Runs `op` on a batch and returns `(pos_loss, chunk_loss)` of the losses the op
    /// computes (`None` for a loss the op does not compute: `pos_op` prunes the chunk head).
    pub fn train_step(
        &self,
        sess: &mut Session<'g>,
        op: Operation<'g>,
        b: &TaggedBatch,
    ) -> Result<(Option<f32>, Option<f32>)> {
        self.train_step_probed(sess, op, b, &[])
            .map(|(p, c, _)| (p, c))
    }

    /// [`Tagger::train_step`] that also fetches the `probe` tensors (e.g. the strategy's
    /// cosines and weights) in the same run, from the forward pass of the step; their values
    /// come back in order.
    pub fn train_step_probed(
        &self,
        sess: &mut Session<'g>,
        op: Operation<'g>,
        b: &TaggedBatch,
        probe: &[Tensor<'g>],
    ) -> Result<(Option<f32>, Option<f32>, Vec<crate::Value>)> {
        let mut feeds = self.input_feeds(b);
        let keep = self.config.keep_prob;
        let keep_arr = ndarray::arr0(keep);
        if let Some(k) = self.keep_prob {
            feeds.push((k, (&keep_arr).into()));
        }
        let want_pos = op != self.chunk_op;
        let want_chunk = op != self.pos_op;
        if want_pos {
            feeds.push((self.pos, (&b.pos).into()));
        }
        if want_chunk {
            feeds.push((self.chunks, (&b.chunks).into()));
        }
        let mut fetches = vec![op.into()];
        if want_pos {
            fetches.push(self.pos_loss.into());
        }
        if want_chunk {
            fetches.push(self.chunk_loss.into());
        }
        let n = fetches.len();
        fetches.extend(probe.iter().map(|&t| crate::graph::Fetch::from(t)));
        let out = sess.run(&fetches, &feeds)?;
        let p = if want_pos { Some(out.scalar(1)?) } else { None };
        let c = if want_chunk {
            Some(out.scalar(n - 1)?)
        } else {
            None
        };
        let probed = (n..n + probe.len())
            .map(|i| out.get(i).cloned())
            .collect::<Result<_>>()?;
        Ok((p, c, probed))
    }

    /// Predicted tag ids (argmax over the real classes, padding excluded) for every sentence
    /// of `corpus`, and the mean test losses `(pos, chunk)` over all real tokens.
    pub fn predict(
        &self,
        sess: &mut Session<'g>,
        corpus: &[EncodedSentence],
    ) -> Result<Prediction> {
        let lengths: Vec<usize> = corpus.iter().map(EncodedSentence::len).collect();
        let mut pos_pred = vec![Vec::new(); corpus.len()];
        let mut chunk_pred = vec![Vec::new(); corpus.len()];
        let (mut pos_loss, mut chunk_loss, mut n) = (0f64, 0f64, 0usize);
        for idx in eval_batches(&lengths, 256) {
            let b = make_batch(corpus, &idx);
            let mut feeds = self.input_feeds(&b);
            feeds.push((self.pos, (&b.pos).into()));
            feeds.push((self.chunks, (&b.chunks).into()));
            let out = sess.run(
                &[
                    self.pos_logits.into(),
                    self.chunk_logits.into(),
                    self.pos_loss.into(),
                    self.chunk_loss.into(),
                ],
                &feeds,
            )?;
            let t = b.words.ncols();
            for (k, logits) in [out.f32(0)?, out.f32(1)?].into_iter().enumerate() {
                let c = logits.shape()[1];
                let flat = logits
                    .as_slice()
                    .ok_or_else(|| Error::Value("logits are not contiguous".into()))?;
                for (r, &i) in b.indices.iter().enumerate() {
                    let tags: Vec<usize> = (0..b.lengths[r])
                        .map(|j| {
                            let row = &flat[(r * t + j) * c..(r * t + j + 1) * c];
                            argmax_from(row, 1)
                        })
                        .collect();
                    if k == 0 {
                        pos_pred[i] = tags;
                    } else {
                        chunk_pred[i] = tags;
                    }
                }
            }
            let tokens = b.tokens();
            pos_loss += out.scalar(2)? as f64 * tokens as f64;
            chunk_loss += out.scalar(3)? as f64 * tokens as f64;
            n += tokens;
        }
        Ok(Prediction {
            pos: pos_pred,
            chunks: chunk_pred,
            pos_loss: pos_loss / n.max(1) as f64,
            chunk_loss: chunk_loss / n.max(1) as f64,
        })
    }

    /// Scores the tagger on `sentences` (encoded as `encoded`).
    pub fn evaluate(
        &self,
        sess: &mut Session<'g>,
        vocab: &TaggerVocab,
        sentences: &[Sentence],
        encoded: &[EncodedSentence],
    ) -> Result<Evaluation> {
        let p = self.predict(sess, encoded)?;
        Ok(Evaluation {
            score: score_tagging(sentences, &p.pos, &p.chunks, vocab)?,
            pos_loss: p.pos_loss,
            chunk_loss: p.chunk_loss,
        })
    }

    /// Variables whose names start with one of `prefixes` (e.g. `chunk_decoder/`).
    pub fn variables_under(&self, prefixes: &[&str]) -> Vec<Tensor<'g>> {
        self.graph
            .global_variables()
            .into_iter()
            .filter(|v| {
                let n = v.name();
                prefixes.iter().any(|p| n.starts_with(p))
            })
            .collect()
    }
}

/// Index of the largest entry of `row` at or after `from` (ties: the first).
fn argmax_from(row: &[f32], from: usize) -> usize {
    let mut best = from.min(row.len().saturating_sub(1));
    for (k, &v) in row.iter().enumerate().skip(from) {
        if v > row[best] {
            best = k;
        }
    }
    best
}

/// Predicted tag ids per sentence and mean test losses.
#[derive(Clone, Debug, Default)]
pub struct Prediction {
    /// POS tag ids per sentence.
    pub pos: Vec<Vec<usize>>,
    /// Chunk tag ids per sentence.
    pub chunks: Vec<Vec<usize>>,
    /// Mean POS cross-entropy over all real tokens.
    pub pos_loss: f64,
    /// Mean chunk cross-entropy over all real tokens.
    pub chunk_loss: f64,
}

/// Test scores and losses.
#[derive(Clone, Copy, Debug, Default)]
pub struct Evaluation {
    /// Accuracies and chunk counts.
    pub score: TaggingScore,
    /// Mean POS cross-entropy over all real tokens.
    pub pos_loss: f64,
    /// Mean chunk cross-entropy over all real tokens.
    pub chunk_loss: f64,
}

/// A corpus ready for training: sentences, vocabularies, encodings.
#[derive(Clone, Debug)]
pub struct TaggerData {
    /// `conll2000` or `synthetic` (printed and written to the JSON line).
    pub name: String,
    /// Training sentences.
    pub train: Vec<Sentence>,
    /// Test sentences.
    pub test: Vec<Sentence>,
    /// Vocabularies built from `train`.
    pub vocab: TaggerVocab,
    /// Encoded training sentences.
    pub train_enc: Vec<EncodedSentence>,
    /// Encoded test sentences.
    pub test_enc: Vec<EncodedSentence>,
}

impl TaggerData {
    /// Builds the vocabularies (min count 2, as the reference) and encodes both splits.
    pub fn new(name: &str, train: Vec<Sentence>, test: Vec<Sentence>) -> Self {
        let vocab = TaggerVocab::build(&train, 2);
        let train_enc = vocab.encode(&train);
        let test_enc = vocab.encode(&test);
        TaggerData {
            name: name.to_string(),
            train,
            test,
            vocab,
            train_enc,
            test_enc,
        }
    }

    /// The synthetic corpus of [`crate::data::synthetic_corpus`].
    pub fn synthetic() -> Self {
        let c = crate::data::synthetic_corpus();
        Self::new("synthetic", c.train, c.test)
    }

    /// Number of real training tokens.
    pub fn train_tokens(&self) -> usize {
        self.train_enc.iter().map(EncodedSentence::len).sum()
    }
}

/// How to train.
#[derive(Clone, Debug)]
pub struct TrainOptions {
    /// Which op per batch.
    pub regime: Regime,
    /// Number of epochs to reach (training starts after the epochs already done).
    pub epochs: usize,
    /// Seeds the batch order and the alternate choice.
    pub seed: u64,
    /// Probability of `pos_op` in the alternate regime (0.5).
    pub p_pos: f64,
    /// Sentences per batch (32).
    pub batch_size: usize,
    /// Length-bucketed batches (less padding) instead of plain shuffled slices.
    pub bucketed: bool,
    /// Call the progress callback every this many batches (0 = never).
    pub log_every: usize,
    /// Data-parallel training: `(rank, ranks)`; each global batch of `batch_size` sentences is
    /// split into `ranks` contiguous parts and this process trains on part `rank` (the train
    /// ops must allreduce their gradients). Token counts and tokens/s stay global. `(0, 1)`:
    /// one process.
    pub shard: (usize, usize),
    /// Wall-clock budget in seconds (training and evaluation): no epoch is started that
    /// would, at the last epoch's pace, end past it. `None`: no limit.
    pub time_budget: Option<f64>,
    /// With [`Regime::Strategy`]: fetch the strategy's gradient cosine matrix with every this
    /// many batches (the first of each epoch included; 0 = never), with the weights the
    /// strategy used: see [`EpochLog::mean_cosine`] and [`TrainEvent::Probe`].
    pub cosine_every: usize,
}

impl TrainOptions {
    /// The reference settings: batch 32, p = 0.5, bucketed batches, no progress lines.
    pub fn new(regime: Regime, epochs: usize, seed: u64) -> Self {
        TrainOptions {
            regime,
            epochs,
            seed,
            p_pos: 0.5,
            batch_size: 32,
            bucketed: true,
            log_every: 0,
            shard: (0, 1),
            time_budget: None,
            cosine_every: 0,
        }
    }
}

/// What the progress callback sees every `log_every` batches.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    /// 1-based epoch.
    pub epoch: usize,
    /// Batches done in this epoch.
    pub batch: usize,
    /// Batches per epoch.
    pub batches: usize,
    /// Training tokens per second so far in this epoch.
    pub tokens_per_s: f64,
    /// Mean POS loss over this epoch's POS-training batches so far.
    pub pos_loss: f64,
    /// Mean chunk loss over this epoch's chunk-training batches so far.
    pub chunk_loss: f64,
}

/// What the training driver reports while it runs.
#[derive(Clone, Copy, Debug)]
pub enum TrainEvent<'a> {
    /// Every `log_every` batches.
    Batch(&'a Progress),
    /// After each epoch's evaluation.
    Epoch(&'a EpochLog),
    /// With [`TrainOptions::cosine_every`] and [`Regime::Strategy`]: what the strategy's
    /// diagnostics gave on a probed step (before that step's [`TrainEvent::Step`]).
    Probe {
        /// 1-based global step, as in [`TrainEvent::Step`].
        step: usize,
        /// The pairwise cosines of the per-task gradients, `[T, T]` row-major (tasks `pos`,
        /// `chunk`).
        cosines: &'a [f32],
        /// The loss weights (or gradient coefficients) the strategy used on this step, `[T]`.
        weights: &'a [f32],
    },
    /// After every training batch: the losses its op computed (for per-step logging).
    Step {
        /// 1-based global step (batches run since the first epoch of this run).
        step: usize,
        /// The batch's POS loss, if its op computed it.
        pos_loss: Option<f32>,
        /// The batch's chunk loss, if its op computed it.
        chunk_loss: Option<f32>,
    },
}

/// One epoch's record.
#[derive(Clone, Copy, Debug)]
pub struct EpochLog {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training POS loss over the batches whose op computed it (NaN if none).
    pub train_pos_loss: f64,
    /// Mean training chunk loss over the batches whose op computed it (NaN if none).
    pub train_chunk_loss: f64,
    /// Test scores after the epoch.
    pub test: Evaluation,
    /// Real training tokens.
    pub tokens: usize,
    /// Training wall time (evaluation excluded).
    pub seconds: f64,
    /// Training tokens per second of the steps that fetched no cosines (all steps when
    /// [`TrainOptions::cosine_every`] is 0: `tokens / seconds`).
    pub tokens_per_s: f64,
    /// How many batches ran `pos_op`, `chunk_op`, `joint_op` (or the strategy's op).
    pub op_counts: [usize; 3],
    /// The mean pairwise gradient cosine over the epoch's probed steps
    /// ([`TrainOptions::cosine_every`]; `None` without probes).
    pub mean_cosine: Option<f64>,
    /// How many steps were probed.
    pub cosine_probes: usize,
}

/// The batch order of epoch `epoch` (1-based) and the generator for the alternate choice:
/// both depend only on `(seed, epoch)`, so a run resumed from a checkpoint sees exactly the
/// batches an uninterrupted run would.
pub fn epoch_rng(seed: u64, epoch: usize) -> StdRng {
    StdRng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ epoch as u64)
}

/// Number of batches per epoch.
pub fn batches_per_epoch(data: &TaggerData, batch_size: usize) -> usize {
    data.train_enc.len().div_ceil(batch_size.max(1))
}

/// Trains `model` from the epoch after the ones already done (`global_step / batches per
/// epoch`, so a restored checkpoint resumes where it stopped) up to `opts.epochs`, evaluating
/// on the test split after every epoch. `progress` is called every `opts.log_every` batches.
pub fn train<'g>(
    sess: &mut Session<'g>,
    model: &Tagger<'g>,
    data: &TaggerData,
    opts: &TrainOptions,
    mut on_event: impl FnMut(TrainEvent),
) -> Result<Vec<EpochLog>> {
    let lengths: Vec<usize> = data.train_enc.iter().map(EncodedSentence::len).collect();
    let per_epoch = batches_per_epoch(data, opts.batch_size);
    let (rank, ranks) = opts.shard;
    if ranks > 1 && !opts.batch_size.is_multiple_of(ranks) {
        return Err(Error::InvalidArgument(format!(
            "batch size {} is not divisible by {ranks} ranks: choose a multiple of {ranks}",
            opts.batch_size
        )));
    }
    let step = sess
        .variable_value(model.global_step)?
        .as_i64()?
        .sum()
        .max(0) as usize;
    let done = step / per_epoch.max(1);
    let probe = match (opts.regime, &model.strategy) {
        (Regime::Strategy, None) => {
            return Err(Error::InvalidArgument(
                "regime `strategy` needs a tagger built with Tagger::build_with_strategy".into(),
            ))
        }
        (Regime::Strategy, Some(t)) if opts.cosine_every > 0 => t.diagnostics.map(|d| d.cosines),
        _ => None,
    };
    // Fetched with the cosines: the weights the strategy used on the probed step.
    let probe_weights = match (probe, &model.strategy) {
        (Some(_), Some(t)) => t.diagnostics.map(|d| d.weights),
        _ => None,
    };
    let mut logs = Vec::new();
    let start = Instant::now();
    let mut last_epoch = 0f64;
    for epoch in done + 1..=opts.epochs {
        if let Some(budget) = opts.time_budget {
            if epoch > done + 1 && start.elapsed().as_secs_f64() + last_epoch > budget {
                break;
            }
        }
        let epoch_start = Instant::now();
        let mut rng = epoch_rng(opts.seed, epoch);
        let order = train_batches(&lengths, opts.batch_size, opts.bucketed, &mut rng);
        let (mut pos_sum, mut pos_n, mut chunk_sum, mut chunk_n) = (0f64, 0usize, 0f64, 0usize);
        let mut counts = [0usize; 3];
        let mut tokens = 0usize;
        let (mut cosines, mut probe_tokens, mut probe_s) = (Vec::new(), 0usize, 0f64);
        let t0 = Instant::now();
        let nb = order.len();
        for (k, idx) in order.iter().enumerate() {
            let part = crate::data::shard_range(idx.len(), ranks.max(1), rank)?;
            let b = make_batch(&data.train_enc, &idx[part]);
            let op = model.pick_op(opts.regime, opts.p_pos, &mut rng);
            counts[if op == model.pos_op {
                0
            } else if op == model.chunk_op {
                1
            } else {
                2
            }] += 1;
            let probed: Vec<Tensor<'g>> = match (probe, probe_weights) {
                (Some(cos), w) if k % opts.cosine_every.max(1) == 0 => {
                    std::iter::once(cos).chain(w).collect()
                }
                _ => vec![],
            };
            let ts = Instant::now();
            let (p, c, values) = model.train_step_probed(sess, op, &b, &probed)?;
            let step_tokens = idx.iter().map(|&i| lengths[i]).sum::<usize>();
            let step = (epoch - 1) * nb + k + 1;
            if let Some(cos) = values.first() {
                probe_s += ts.elapsed().as_secs_f64();
                probe_tokens += step_tokens;
                let a = cos.as_f32()?;
                let t = a.shape().first().copied().unwrap_or(0);
                let flat: Vec<f32> = a.iter().copied().collect();
                cosines.extend(crate::mtl::mean_off_diagonal(&flat, t));
                let weights: Vec<f32> = match values.get(1) {
                    Some(w) => w.as_f32()?.iter().copied().collect(),
                    None => vec![],
                };
                on_event(TrainEvent::Probe {
                    step,
                    cosines: &flat,
                    weights: &weights,
                });
            }
            on_event(TrainEvent::Step {
                step,
                pos_loss: p,
                chunk_loss: c,
            });
            tokens += step_tokens;
            if let Some(p) = p {
                pos_sum += p as f64;
                pos_n += 1;
            }
            if let Some(c) = c {
                chunk_sum += c as f64;
                chunk_n += 1;
            }
            if opts.log_every > 0 && ((k + 1) % opts.log_every == 0 || k + 1 == nb) {
                on_event(TrainEvent::Batch(&Progress {
                    epoch,
                    batch: k + 1,
                    batches: nb,
                    tokens_per_s: tokens as f64 / t0.elapsed().as_secs_f64().max(1e-9),
                    pos_loss: pos_sum / pos_n.max(1) as f64,
                    chunk_loss: chunk_sum / chunk_n.max(1) as f64,
                }));
            }
        }
        let seconds = t0.elapsed().as_secs_f64();
        let test = model.evaluate(sess, &data.vocab, &data.test, &data.test_enc)?;
        let mean = |s: f64, n: usize| if n == 0 { f64::NAN } else { s / n as f64 };
        logs.push(EpochLog {
            epoch,
            train_pos_loss: mean(pos_sum, pos_n),
            train_chunk_loss: mean(chunk_sum, chunk_n),
            test,
            tokens,
            seconds,
            tokens_per_s: (tokens - probe_tokens) as f64 / (seconds - probe_s).max(1e-9),
            op_counts: counts,
            mean_cosine: (!cosines.is_empty())
                .then(|| cosines.iter().sum::<f64>() / cosines.len() as f64),
            cosine_probes: cosines.len(),
        });
        on_event(TrainEvent::Epoch(logs.last().expect("pushed")));
        last_epoch = epoch_start.elapsed().as_secs_f64();
    }
    Ok(logs)
}

/// Token accuracy of always predicting the most frequent training tag, on the test split:
/// `(pos, chunk)`. The floor any trained tagger must clear.
pub fn majority_baseline(data: &TaggerData) -> (f64, f64) {
    fn most_common<'a>(tags: impl Iterator<Item = &'a String>) -> String {
        let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
        for t in tags {
            *counts.entry(t.as_str()).or_default() += 1;
        }
        counts
            .into_iter()
            .max_by_key(|&(_, n)| n)
            .map(|(t, _)| t.to_string())
            .unwrap_or_default()
    }
    let pos = most_common(data.train.iter().flat_map(|s| &s.pos));
    let chunk = most_common(data.train.iter().flat_map(|s| &s.chunks));
    let n: usize = data.test.iter().map(Sentence::len).sum();
    let hits = |f: &dyn Fn(&Sentence) -> usize| data.test.iter().map(f).sum::<usize>();
    let p = hits(&|s| s.pos.iter().filter(|t| **t == pos).count());
    let c = hits(&|s| s.chunks.iter().filter(|t| **t == chunk).count());
    (p as f64 / n.max(1) as f64, c as f64 / n.max(1) as f64)
}
