//! Data side of the POS + chunk tagger: CoNLL reader, vocabularies, batching, the synthetic
//! corpus and the conlleval-style chunk scorer.

mod skip;
use staticflow::data::*;
use staticflow::Error;
use std::path::Path;

fn c(start: usize, end: usize, kind: &str) -> Chunk {
    Chunk {
        start,
        end,
        kind: kind.into(),
    }
}

#[test]
fn chunks_end_at_sentence_end_and_on_o() {
    let got = extract_chunks(&["B-NP", "I-NP", "O", "B-VP"]);
    assert_eq!(
        got.into_iter().collect::<Vec<_>>(),
        [c(0, 2, "NP"), c(3, 4, "VP")]
    );
    let got = extract_chunks(&["B-NP", "I-NP", "I-NP"]);
    assert_eq!(got.into_iter().collect::<Vec<_>>(), [c(0, 3, "NP")]);
}

#[test]
fn chunks_i_without_b_and_type_changes() {
    // An I- after O (or at the start) opens a chunk.
    let got: Vec<_> = extract_chunks(&["I-NP", "I-NP", "O", "I-VP"])
        .into_iter()
        .collect();
    assert_eq!(got, [c(0, 2, "NP"), c(3, 4, "VP")]);
    // A type change closes the previous chunk and opens a new one, even with I-.
    let got: Vec<_> = extract_chunks(&["B-NP", "I-VP", "I-VP"])
        .into_iter()
        .collect();
    assert_eq!(got, [c(0, 1, "NP"), c(1, 3, "VP")]);
    // B- after B- of the same type: two chunks.
    let got: Vec<_> = extract_chunks(&["O", "B-NP", "B-NP"]).into_iter().collect();
    assert_eq!(got, [c(1, 2, "NP"), c(2, 3, "NP")]);
    assert!(extract_chunks::<&str>(&[]).is_empty());
    assert!(extract_chunks(&["O", "O"]).is_empty());
}

#[test]
fn chunk_f1_hand_computed() {
    // gold: NP(0,2) VP(2,3) PP(4,5) NP(5,6)                                    -> 4 chunks
    // pred: NP(0,1) NP(1,2) VP(2,3) PP(4,5) NP(5,6) (I-NP after B-PP: new chunk) -> 5 chunks
    let gold = vec![vec!["B-NP", "I-NP", "B-VP", "O", "B-PP", "B-NP"]];
    let pred = vec![vec!["B-NP", "B-NP", "B-VP", "O", "B-PP", "I-NP"]];
    let s = chunk_f1(&gold, &pred);
    assert_eq!((s.correct, s.gold, s.predicted), (3, 4, 5));
    assert!((s.precision() - 0.6).abs() < 1e-12);
    assert!((s.recall() - 0.75).abs() < 1e-12);
    assert!((s.f1() - 2.0 / 3.0).abs() < 1e-12, "{}", s.f1());

    // Right span, wrong type: no credit. Right type, span one token short: no credit.
    let gold = vec![vec!["B-NP", "I-NP", "O"], vec!["B-VP", "I-VP", "I-VP"]];
    let pred = vec![vec!["B-VP", "I-VP", "O"], vec!["B-VP", "I-VP", "O"]];
    let s = chunk_f1(&gold, &pred);
    assert_eq!((s.correct, s.gold, s.predicted), (0, 2, 2));
    assert_eq!(s.f1(), 0.0);

    // Perfect prediction, and a chunk that runs to the end of the sentence.
    let gold = vec![vec!["B-NP", "I-NP", "B-VP", "I-VP"]];
    let s = chunk_f1(&gold, &gold);
    assert_eq!((s.correct, s.gold, s.predicted), (2, 2, 2));
    assert_eq!(s.f1(), 1.0);

    // Nothing predicted: precision, recall and F1 are 0, not NaN.
    let s = chunk_f1(&[vec!["B-NP"]], &[vec!["O"]]);
    assert_eq!((s.precision(), s.recall(), s.f1()), (0.0, 0.0, 0.0));
}

#[test]
fn reader_parses_sentences_and_names_file_and_line_on_errors() {
    let text = "Confidence NN B-NP\nin IN B-PP\n\n\nthe DT B-NP\npound NN I-NP\n";
    let s = parse_conll(text, "x.txt").unwrap();
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].words, ["Confidence", "in"]);
    assert_eq!(s[1].pos, ["DT", "NN"]);
    assert_eq!(s[1].chunks, ["B-NP", "I-NP"]);

    let bad = "Confidence NN B-NP\nin IN\n";
    let err = parse_conll(bad, "dir/train.txt").unwrap_err();
    match &err {
        Error::Parse { path, line, .. } => {
            assert_eq!(path, Path::new("dir/train.txt"));
            assert_eq!(*line, 2);
        }
        e => panic!("expected a parse error, got {e:?}"),
    }
    let msg = err.to_string();
    assert!(msg.starts_with("dir/train.txt:2:"), "{msg}");

    let err = parse_conll("a DT B-NP\n\nb NN X-NP\n", "t.txt").unwrap_err();
    assert!(err.to_string().starts_with("t.txt:3:"), "{err}");

    // Through the file system too.
    let dir = std::env::temp_dir().join(format!("sf-conll-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("bad.txt");
    std::fs::write(&f, "a DT B-NP\nb NN I-NP extra\n").unwrap();
    let err = read_conll(&f).unwrap_err();
    assert!(matches!(err, Error::Parse { line: 2, .. }), "{err:?}");
    assert!(err.to_string().contains("bad.txt:2"), "{err}");
    let err = read_conll(dir.join("missing.txt")).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    // write/read round trip
    let good = parse_conll(text, "x").unwrap();
    write_conll(&good, dir.join("rt.txt")).unwrap();
    assert_eq!(read_conll(dir.join("rt.txt")).unwrap(), good);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn vocab_lowercases_counts_and_pads() {
    let s = parse_conll(
        "The DT B-NP\ncat NN I-NP\nsat VBD B-VP\n\nthe DT B-NP\nCat NN I-NP\nran VBD B-VP\n",
        "x",
    )
    .unwrap();
    let v = TaggerVocab::build(&s, 2);
    assert_eq!(v.words.len(), 4, "pad, unk, cat, the");
    assert_eq!(v.words.id("THE"), v.words.id("the"));
    assert_eq!(v.words.id("sat"), UNK);
    assert_eq!(v.pos.tags(), ["<pad>", "DT", "NN", "VBD"]);
    assert_eq!(v.chunks.tags(), ["<pad>", "B-NP", "B-VP", "I-NP"]);
    assert_eq!(v.pos.id("JJ"), PAD, "unseen test tag maps to padding");
    let e = v.encode(&s);
    assert_eq!(e[0].words, [v.words.id("the"), v.words.id("cat"), UNK]);
    assert_eq!(e[0].chunks, [1, 3, 2]);
}

#[test]
fn batches_pad_mask_and_cover_every_sentence_once() {
    use rand::SeedableRng;
    let corpus = synthetic_corpus_sized(500, 10);
    let v = TaggerVocab::build(&corpus.train, 2);
    let enc = v.encode(&corpus.train);
    let lengths: Vec<usize> = enc.iter().map(|s| s.len()).collect();
    for bucketed in [false, true] {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let batches = train_batches(&lengths, 32, bucketed, &mut rng);
        let mut seen: Vec<usize> = batches.iter().flatten().copied().collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..500).collect::<Vec<_>>());
        assert!(batches.iter().all(|b| !b.is_empty() && b.len() <= 32));
        let mut rng2 = rand::rngs::StdRng::seed_from_u64(3);
        assert_eq!(batches, train_batches(&lengths, 32, bucketed, &mut rng2));
        let again = train_batches(&lengths, 32, bucketed, &mut rng);
        assert_ne!(batches, again, "a new order each epoch");
    }
    let b = make_batch(&enc, &[3, 7, 11]);
    let t = b.lengths.iter().copied().max().unwrap();
    assert_eq!(b.words.shape(), [3, t]);
    assert_eq!(b.mask.sum() as usize, b.tokens());
    for (r, &i) in b.indices.iter().enumerate() {
        let n = enc[i].len();
        assert_eq!(
            b.words.row(r).iter().take(n).copied().collect::<Vec<_>>(),
            enc[i].words
        );
        assert!(b.words.row(r).iter().skip(n).all(|&x| x == PAD));
        assert!(b.mask.row(r).iter().skip(n).all(|&x| x == 0.0));
    }
    // Bucketing keeps padding low.
    let pad = |bs: &[Vec<usize>]| -> usize {
        bs.iter()
            .map(|b| b.len() * b.iter().map(|&i| lengths[i]).max().unwrap())
            .sum()
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let plain = pad(&train_batches(&lengths, 32, false, &mut rng));
    let bucketed = pad(&train_batches(&lengths, 32, true, &mut rng));
    assert!(bucketed < plain, "{bucketed} vs {plain}");
}

#[test]
fn synthetic_corpus_is_deterministic_and_consistent() {
    let a = synthetic_corpus();
    let b = synthetic_corpus();
    assert_eq!(a.train, b.train);
    assert_eq!(a.test, b.test);
    assert!(a.train.len() >= 3000);
    for s in a.train.iter().chain(&a.test) {
        assert_eq!(s.words.len(), s.pos.len());
        assert_eq!(s.words.len(), s.chunks.len());
        // every I-X continues a chunk of type X (valid IOB2)
        for i in 0..s.len() {
            if let Some(t) = s.chunks[i].strip_prefix("I-") {
                assert!(i > 0 && s.chunks[i - 1].ends_with(t), "{:?}", s);
            }
        }
    }
    let v = TaggerVocab::build(&a.train, 2);
    assert!(
        v.pos.len() > 10 && v.chunks.len() > 8,
        "{:?} {:?}",
        v.pos,
        v.chunks
    );
    let unk = v.unk_rate(&a.test);
    assert!(unk > 0.005 && unk < 0.2, "test UNK rate {unk}");
    // gold against gold scores 1.0
    let gold: Vec<Vec<String>> = a.test.iter().map(|s| s.chunks.clone()).collect();
    assert_eq!(chunk_f1(&gold, &gold).f1(), 1.0);
}

/// On the real CoNLL-2000 data (when present): the reference's vocabulary size and gold chunk
/// count.
#[test]
fn real_conll2000_matches_reference_counts() {
    let Some(dir) = find_data_dir("conll2000", &["train.txt"]) else {
        skip::skip(
            "real_conll2000_matches_reference_counts",
            &skip::data_missing("conll2000"),
        );
        return;
    };
    let train = read_conll(dir.join("train.txt")).unwrap();
    let test = read_conll(dir.join("test.txt")).unwrap();
    assert_eq!(train.len(), 8936);
    assert_eq!(test.len(), 2012);
    assert_eq!(test.iter().map(|s| s.len()).sum::<usize>(), 47377);
    let v = TaggerVocab::build(&train, 2);
    assert_eq!(v.words.len(), 8934);
    assert_eq!(v.pos.len(), 45);
    assert_eq!(v.chunks.len(), 23);
    let gold: Vec<Vec<String>> = test.iter().map(|s| s.chunks.clone()).collect();
    let s = chunk_f1(&gold, &gold);
    assert_eq!(s.gold, 23852);
    assert_eq!(s.f1(), 1.0);
}
