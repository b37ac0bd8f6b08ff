//! Dataset: shuffle determinism, batch/repeat counts, prefetch order, map order, errors.

use ndarray::{array, Array1, Array2};
use staticflow::data::Dataset;
use staticflow::Error;

fn ids(ds: &Dataset<i64>) -> Vec<i64> {
    ds.iter().collect::<Result<_, _>>().unwrap()
}

#[test]
fn shuffle_is_deterministic_per_seed_and_reshuffles_each_pass() {
    let make = |seed| Dataset::from_vec((0..100i64).collect()).shuffle(100, seed);
    let a = make(7);
    let b = make(7);
    let (a1, a2) = (ids(&a), ids(&a));
    assert_eq!(a1, ids(&b), "same seed, same first pass");
    assert_eq!(a2, ids(&b), "same seed, same second pass");
    assert_ne!(a1, a2, "each pass reshuffles");
    assert_ne!(a1, ids(&make(8)), "another seed, another order");
    let mut sorted = a1.clone();
    sorted.sort();
    assert_eq!(sorted, (0..100).collect::<Vec<_>>(), "a permutation");
    assert_ne!(a1, (0..100).collect::<Vec<_>>());
}

#[test]
fn small_shuffle_buffer_keeps_elements_local() {
    let v = ids(&Dataset::from_vec((0..50i64).collect()).shuffle(3, 1));
    for (pos, x) in v.iter().enumerate() {
        // An element can only be emitted once it entered the 3-slot buffer.
        assert!(*x <= pos as i64 + 2, "{x} at {pos}");
    }
}

#[test]
fn batch_and_repeat_counts() {
    let ds = Dataset::from_vec((0..10i64).collect());
    let b: Vec<Array1<i64>> = ds
        .clone()
        .batch(4, false)
        .iter()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(b.iter().map(|x| x.len()).collect::<Vec<_>>(), vec![4, 4, 2]);
    assert_eq!(b[2], array![8, 9]);
    let dropped = ds.clone().batch(4, true).iter().count();
    assert_eq!(dropped, 2);
    assert_eq!(ds.clone().repeat(Some(3)).iter().count(), 30);
    assert_eq!(ds.clone().repeat(Some(3)).batch(4, false).iter().count(), 8);
    assert_eq!(ds.clone().repeat(None).take(25).iter().count(), 25);
    let empty = Dataset::<i64>::from_vec(vec![]).repeat(None);
    assert_eq!(
        empty.iter().count(),
        0,
        "an empty dataset repeated forever ends"
    );
}

#[test]
fn batch_stacks_tuples_of_arrays() {
    let x = Array2::from_shape_fn((5, 3), |(i, j)| (i * 3 + j) as f32);
    let y = Array1::from(vec![0i64, 1, 2, 3, 4]);
    let ds = Dataset::from_tensor_slices((x.clone(), y))
        .unwrap()
        .batch(2, false);
    let bs: Vec<_> = ds.iter().collect::<Result<_, _>>().unwrap();
    assert_eq!(bs.len(), 3);
    assert_eq!(bs[0].0, x.slice(ndarray::s![0..2, ..]).to_owned());
    assert_eq!(bs[2].1, array![4]);
    let err = Dataset::from_tensor_slices((x, Array1::<i64>::zeros(4))).unwrap_err();
    assert!(err.to_string().contains("different lengths"), "{err}");
}

#[test]
fn batch_of_mismatched_shapes_is_an_error() {
    let ds =
        Dataset::from_vec(vec![Array1::<f32>::zeros(2), Array1::<f32>::zeros(3)]).batch(2, false);
    let e = ds.iter().next().unwrap().unwrap_err();
    assert!(e.to_string().contains("[2] vs [3]"), "{e}");
}

#[test]
fn parallel_map_and_prefetch_keep_order() {
    let ds = Dataset::from_vec((0..1000i64).collect())
        .map(|x| {
            if x % 7 == 0 {
                std::thread::yield_now();
            }
            Ok(x * 2)
        })
        .prefetch(3);
    let v = ids(&ds);
    assert_eq!(v, (0..1000).map(|x| x * 2).collect::<Vec<_>>());
    // Two passes, each with its own worker.
    assert_eq!(ids(&ds).len(), 1000);
    // Dropping an unfinished pass over an infinite dataset does not hang.
    let inf = Dataset::from_vec(vec![1i64]).repeat(None).prefetch(2);
    let first: Vec<_> = inf.iter().take(5).collect();
    assert_eq!(first.len(), 5);
}

#[test]
fn prefetch_overlaps_with_the_consumer() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let produced = Arc::new(AtomicUsize::new(0));
    let p = Arc::clone(&produced);
    let ds = Dataset::from_fn(|| 0..10i64)
        .map_sequential(move |x| {
            p.fetch_add(1, Ordering::SeqCst);
            Ok(x)
        })
        .prefetch(4);
    let mut it = ds.iter();
    assert_eq!(it.next().unwrap().unwrap(), 0);
    // The worker fills the buffer while we wait: more than one element was produced.
    for _ in 0..200 {
        if produced.load(Ordering::SeqCst) > 2 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(produced.load(Ordering::SeqCst) > 2);
    assert_eq!(
        it.map(|r| r.unwrap()).collect::<Vec<_>>(),
        (1..10).collect::<Vec<_>>()
    );
}

#[test]
fn errors_flow_or_are_skipped_and_counted() {
    let ds = Dataset::from_vec((0..10i64).collect()).map(|x| {
        if x == 3 || x == 6 {
            Err(Error::InvalidArgument(format!("bad {x}")))
        } else {
            Ok(x)
        }
    });
    let r: Result<Vec<i64>, _> = ds.iter().collect();
    assert!(r.unwrap_err().to_string().contains("bad 3"));
    let (ok, counter) = ds.ignore_errors();
    assert_eq!(ids(&ok), vec![0, 1, 2, 4, 5, 7, 8, 9]);
    assert_eq!(counter.count(), 2);
    assert!(counter.messages()[1].contains("bad 6"));
}

#[test]
fn cache_runs_upstream_once() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let ds = Dataset::from_vec((0..20i64).collect())
        .map(move |x| {
            c.fetch_add(1, Ordering::SeqCst);
            Ok(x + 1)
        })
        .cache()
        .shuffle(20, 3);
    let a = ids(&ds);
    let b = ids(&ds);
    assert_eq!(calls.load(Ordering::SeqCst), 20);
    let (mut sa, mut sb) = (a.clone(), b.clone());
    sa.sort();
    sb.sort();
    assert_eq!(sa, sb);
    assert_eq!(sa, (1..21).collect::<Vec<_>>());
}
