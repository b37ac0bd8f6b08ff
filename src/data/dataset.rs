//! A `Dataset` in the spirit of `tf.data`: a re-iterable description of an input pipeline.
//!
//! A [`Dataset<T>`] holds no elements; [`Dataset::iter`] starts a fresh pass over it (an
//! "epoch"). Transformations wrap the description: [`Dataset::map`] (parallel, order
//! preserving, on the rayon pool), [`Dataset::shuffle`] (a tf.data-style shuffle buffer,
//! reshuffled on every pass, deterministic for a seed), [`Dataset::batch`] (stacks elements
//! along a new leading axis through [`Stack`]), [`Dataset::repeat`], [`Dataset::take`],
//! [`Dataset::cache`] and [`Dataset::prefetch`] (a worker thread prepares the next elements
//! while the caller computes).
//!
//! Elements flow as `Result<T>`: an error (say an unreadable image) travels down the pipeline
//! to the caller, who stops or, with [`Dataset::ignore_errors`], skips and counts it.
//!
//! ```
//! use staticflow::data::Dataset;
//! let ds = Dataset::from_vec((0..10i64).collect())
//!     .map(|x| Ok(x * 2))
//!     .shuffle(4, 7)
//!     .batch(3, false);
//! let batches: Vec<_> = ds.iter().collect::<Result<_, _>>().unwrap();
//! assert_eq!(batches.len(), 4);
//! assert_eq!(batches.iter().map(|b| b.len()).sum::<usize>(), 10);
//! ```

use crate::error::{Error, Result};
use ndarray::{Array, Array1, Axis, Dimension, RemoveAxis};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex};

type BoxIter<T> = Box<dyn Iterator<Item = Result<T>> + Send>;
type Factory<T> = Arc<dyn Fn() -> BoxIter<T> + Send + Sync>;

/// A re-iterable input pipeline producing elements of type `T` (see the module docs).
///
/// Cloning is cheap and shares the description (and any cache or epoch counter).
pub struct Dataset<T> {
    make: Factory<T>,
}

impl<T> Clone for Dataset<T> {
    fn clone(&self) -> Self {
        Dataset {
            make: Arc::clone(&self.make),
        }
    }
}

impl<T> std::fmt::Debug for Dataset<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Dataset<{}>", std::any::type_name::<T>())
    }
}

/// One pass over a [`Dataset`]: an iterator of `Result<T>`.
pub struct DatasetIter<T> {
    inner: BoxIter<T>,
}

impl<T> Iterator for DatasetIter<T> {
    type Item = Result<T>;
    fn next(&mut self) -> Option<Result<T>> {
        self.inner.next()
    }
}

/// Something a dataset can be built from by slicing along the first axis, like
/// `tf.data.Dataset.from_tensor_slices`: arrays (element = one row, rank one less), vectors,
/// and tuples of those (all with the same length).
pub trait Slices: Send + Sync + 'static {
    /// One slice.
    type Item: Send + 'static;
    /// Number of slices (length of the first axis).
    fn num_slices(&self) -> usize;
    /// Slice `i` (`i < num_slices()`), copied out.
    fn slice(&self, i: usize) -> Self::Item;
}

impl<A, D> Slices for Array<A, D>
where
    A: Clone + Send + Sync + 'static,
    D: Dimension + RemoveAxis + 'static,
{
    type Item = Array<A, D::Smaller>;
    fn num_slices(&self) -> usize {
        if self.ndim() == 0 {
            0
        } else {
            self.len_of(Axis(0))
        }
    }
    fn slice(&self, i: usize) -> Self::Item {
        self.index_axis(Axis(0), i).to_owned()
    }
}

impl<T: Clone + Send + Sync + 'static> Slices for Vec<T> {
    type Item = T;
    fn num_slices(&self) -> usize {
        self.len()
    }
    fn slice(&self, i: usize) -> T {
        self[i].clone()
    }
}

macro_rules! slices_tuple {
    ($($name:ident $idx:tt),+) => {
        impl<$($name: Slices),+> Slices for ($($name,)+) {
            type Item = ($($name::Item,)+);
            fn num_slices(&self) -> usize {
                let mut n = usize::MAX;
                $(n = n.min(self.$idx.num_slices());)+
                n
            }
            fn slice(&self, i: usize) -> Self::Item {
                ($(self.$idx.slice(i),)+)
            }
        }
        impl<$($name: Slices),+> SliceLengths for ($($name,)+) {
            fn lengths(&self) -> Vec<usize> {
                vec![$(self.$idx.num_slices()),+]
            }
        }
    };
}

/// Lengths of every component, to check that tuple components agree.
#[doc(hidden)]
pub trait SliceLengths {
    /// One length per component.
    fn lengths(&self) -> Vec<usize>;
}
impl<A, D> SliceLengths for Array<A, D>
where
    A: Clone + Send + Sync + 'static,
    D: Dimension + RemoveAxis + 'static,
{
    fn lengths(&self) -> Vec<usize> {
        vec![self.num_slices()]
    }
}
impl<T: Clone + Send + Sync + 'static> SliceLengths for Vec<T> {
    fn lengths(&self) -> Vec<usize> {
        vec![self.len()]
    }
}

slices_tuple!(A 0, B 1);
slices_tuple!(A 0, B 1, C 2);
slices_tuple!(A 0, B 1, C 2, E 3);

/// Elements that [`Dataset::batch`] can stack along a new leading axis: arrays (`[..]` →
/// `[batch, ..]`), scalars (→ 1-D arrays) and tuples of those.
pub trait Stack: Sized + Send + 'static {
    /// The stacked type.
    type Batch: Send + 'static;
    /// Stacks `items` (at least one); an error if their shapes differ.
    fn stack(items: Vec<Self>) -> Result<Self::Batch>;
}

impl<A, D> Stack for Array<A, D>
where
    A: Clone + Send + 'static,
    D: Dimension + 'static,
    D::Larger: RemoveAxis,
{
    type Batch = Array<A, D::Larger>;
    fn stack(items: Vec<Self>) -> Result<Self::Batch> {
        let views: Vec<_> = items.iter().map(|a| a.view()).collect();
        ndarray::stack(Axis(0), &views).map_err(|e| {
            let shapes: Vec<_> = items.iter().map(|a| format!("{:?}", a.shape())).collect();
            let mut uniq = shapes.clone();
            uniq.dedup();
            Error::InvalidArgument(format!(
                "cannot batch elements of different shapes ({}): {e}",
                uniq.join(" vs ")
            ))
        })
    }
}

macro_rules! stack_scalar {
    ($($t:ty),*) => {$(
        impl Stack for $t {
            type Batch = Array1<$t>;
            fn stack(items: Vec<Self>) -> Result<Self::Batch> {
                Ok(Array1::from(items))
            }
        }
    )*};
}
stack_scalar!(f32, f64, i64, i32, u8, u32, usize, bool);

macro_rules! stack_tuple {
    ($($name:ident $idx:tt),+) => {
        impl<$($name: Stack),+> Stack for ($($name,)+) {
            type Batch = ($($name::Batch,)+);
            #[allow(non_snake_case)]
            fn stack(items: Vec<Self>) -> Result<Self::Batch> {
                $(let mut $name = Vec::with_capacity(items.len());)+
                for it in items {
                    $($name.push(it.$idx);)+
                }
                Ok(($($name::stack($name)?,)+))
            }
        }
    };
}
stack_tuple!(A 0, B 1);
stack_tuple!(A 0, B 1, C 2);
stack_tuple!(A 0, B 1, C 2, E 3);

/// Counts the elements that [`Dataset::ignore_errors`] dropped, with their messages.
#[derive(Clone, Debug, Default)]
pub struct ErrorCounter {
    inner: Arc<Mutex<Vec<String>>>,
}

impl ErrorCounter {
    /// Number of dropped elements so far.
    pub fn count(&self) -> usize {
        self.inner.lock().map(|v| v.len()).unwrap_or(0)
    }
    /// The dropped elements' error messages (each names its file where there is one).
    pub fn messages(&self) -> Vec<String> {
        self.inner.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

impl<T: Send + 'static> Dataset<T> {
    /// A dataset from a factory of fresh iterators of results; every pass calls `make`.
    pub fn from_result_fn<I, F>(make: F) -> Self
    where
        F: Fn() -> I + Send + Sync + 'static,
        I: IntoIterator<Item = Result<T>>,
        I::IntoIter: Send + 'static,
    {
        Dataset {
            make: Arc::new(move || Box::new(make().into_iter()) as BoxIter<T>),
        }
    }

    /// A dataset from a factory of fresh iterators (TF's `from_generator`); every pass calls
    /// `make`.
    pub fn from_fn<I, F>(make: F) -> Self
    where
        F: Fn() -> I + Send + Sync + 'static,
        I: IntoIterator<Item = T>,
        I::IntoIter: Send + 'static,
    {
        Dataset {
            make: Arc::new(move || Box::new(make().into_iter().map(Ok)) as BoxIter<T>),
        }
    }

    /// A dataset over the elements of a vector (cloned on every pass).
    pub fn from_vec(items: Vec<T>) -> Self
    where
        T: Clone + Sync,
    {
        let items = Arc::new(items);
        Self::from_fn(move || {
            let items = Arc::clone(&items);
            (0..items.len()).map(move |i| items[i].clone())
        })
    }

    /// Starts a new pass over the dataset.
    pub fn iter(&self) -> DatasetIter<T> {
        DatasetIter {
            inner: (self.make)(),
        }
    }

    /// Applies `f` to every element, in parallel on the rayon pool, keeping the order
    /// (`tf.data`'s `map(f, num_parallel_calls)`). Elements are processed in chunks of
    /// `4 × threads × 8`; an error from `f` or from upstream is passed on in place.
    pub fn map<U, F>(self, f: F) -> Dataset<U>
    where
        U: Send + 'static,
        F: Fn(T) -> Result<U> + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        let chunk = (rayon::current_num_threads() * 32).max(32);
        let up = self.make;
        Dataset {
            make: Arc::new(move || {
                let f = Arc::clone(&f);
                Box::new(ParMap {
                    up: up(),
                    f,
                    chunk,
                    ready: std::collections::VecDeque::new(),
                }) as BoxIter<U>
            }),
        }
    }

    /// Applies `f` to every element on the iterating thread, one at a time (for cheap maps).
    pub fn map_sequential<U, F>(self, f: F) -> Dataset<U>
    where
        U: Send + 'static,
        F: Fn(T) -> Result<U> + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        let up = self.make;
        Dataset {
            make: Arc::new(move || {
                let f = Arc::clone(&f);
                Box::new(up().map(move |r| r.and_then(|x| f(x)))) as BoxIter<U>
            }),
        }
    }

    /// Keeps the elements for which `pred` is true.
    pub fn filter<F>(self, pred: F) -> Dataset<T>
    where
        F: Fn(&T) -> bool + Send + Sync + 'static,
    {
        let pred = Arc::new(pred);
        let up = self.make;
        Dataset {
            make: Arc::new(move || {
                let pred = Arc::clone(&pred);
                Box::new(up().filter(move |r| r.as_ref().map(|x| pred(x)).unwrap_or(true)))
                    as BoxIter<T>
            }),
        }
    }

    /// Drops elements that are errors, recording each in the returned counter
    /// (`tf.data.experimental.ignore_errors`, but counted).
    pub fn ignore_errors(self) -> (Dataset<T>, ErrorCounter) {
        let counter = ErrorCounter::default();
        let c = counter.clone();
        let up = self.make;
        let ds = Dataset {
            make: Arc::new(move || {
                let c = c.clone();
                Box::new(up().filter(move |r| match r {
                    Ok(_) => true,
                    Err(e) => {
                        if let Ok(mut v) = c.inner.lock() {
                            v.push(e.to_string());
                        }
                        false
                    }
                })) as BoxIter<T>
            }),
        };
        (ds, counter)
    }

    /// Randomly shuffles elements with a buffer of `buffer_size` (tf.data's algorithm: fill
    /// the buffer, then repeatedly emit a random slot and refill it). A buffer at least as
    /// large as the dataset gives a uniform shuffle. Each pass reshuffles differently, and the
    /// sequence of passes is the same for the same `seed`.
    pub fn shuffle(self, buffer_size: usize, seed: u64) -> Dataset<T> {
        let buffer_size = buffer_size.max(1);
        let epoch = Arc::new(AtomicU64::new(0));
        let up = self.make;
        Dataset {
            make: Arc::new(move || {
                let e = epoch.fetch_add(1, Ordering::SeqCst);
                let rng = StdRng::seed_from_u64(mix_seed(seed, e));
                Box::new(Shuffle {
                    up: up(),
                    buf: Vec::with_capacity(buffer_size.min(1 << 16)),
                    cap: buffer_size,
                    rng,
                    up_done: false,
                }) as BoxIter<T>
            }),
        }
    }

    /// Groups consecutive elements into batches of `batch_size`, stacked along a new leading
    /// axis. The last, smaller batch is dropped if `drop_remainder`. An upstream error is
    /// returned in place of the batch it falls in (that batch's other elements are dropped).
    pub fn batch(self, batch_size: usize, drop_remainder: bool) -> Dataset<T::Batch>
    where
        T: Stack,
    {
        let n = batch_size.max(1);
        let up = self.make;
        Dataset {
            make: Arc::new(move || {
                let mut it = up();
                Box::new(std::iter::from_fn(move || {
                    let mut items = Vec::with_capacity(n);
                    let mut err = None;
                    while items.len() < n {
                        match it.next() {
                            Some(Ok(x)) => items.push(x),
                            Some(Err(e)) => {
                                err = Some(e);
                                break;
                            }
                            None => break,
                        }
                    }
                    if let Some(e) = err {
                        return Some(Err(e));
                    }
                    if items.is_empty() || (drop_remainder && items.len() < n) {
                        return None;
                    }
                    Some(T::stack(items))
                })) as BoxIter<T::Batch>
            }),
        }
    }

    /// Repeats the dataset `count` times (`None`: forever). Each repetition is a new pass,
    /// so a shuffle upstream reshuffles.
    pub fn repeat(self, count: Option<usize>) -> Dataset<T> {
        let up = self.make;
        Dataset {
            make: Arc::new(move || {
                let up = Arc::clone(&up);
                let mut done = 0usize;
                let mut cur: Option<BoxIter<T>> = None;
                let mut empty_pass = true;
                Box::new(std::iter::from_fn(move || loop {
                    if cur.is_none() {
                        if count.is_some_and(|c| done >= c) {
                            return None;
                        }
                        cur = Some(up());
                        empty_pass = true;
                    }
                    match cur.as_mut().and_then(|c| c.next()) {
                        Some(x) => {
                            empty_pass = false;
                            return Some(x);
                        }
                        None => {
                            cur = None;
                            done += 1;
                            if empty_pass && count.is_none() {
                                // An empty dataset repeated forever is empty.
                                return None;
                            }
                        }
                    }
                })) as BoxIter<T>
            }),
        }
    }

    /// The first `n` elements of every pass.
    pub fn take(self, n: usize) -> Dataset<T> {
        let up = self.make;
        Dataset {
            make: Arc::new(move || Box::new(up().take(n)) as BoxIter<T>),
        }
    }

    /// Keeps every `num_shards`-th element starting at `index` (elements `i` with
    /// `i % num_shards == index`), like `tf.data`'s `shard`: the shards of `num_shards` ranks
    /// are disjoint and cover the dataset. Shard before shuffling (and with the same seed on
    /// every rank) so that each rank sees a fixed part of the data; errors upstream count as
    /// elements and go to the shard whose position they take.
    ///
    /// Errors: `num_shards == 0` or `index >= num_shards`.
    pub fn shard(self, num_shards: usize, index: usize) -> Result<Dataset<T>> {
        if num_shards == 0 || index >= num_shards {
            return Err(Error::InvalidArgument(format!(
                "Dataset::shard: index {index} must be below num_shards {num_shards} (and num_shards > 0)"
            )));
        }
        let up = self.make;
        Ok(Dataset {
            make: Arc::new(move || Box::new(up().skip(index).step_by(num_shards)) as BoxIter<T>),
        })
    }

    /// Skips the first `n` elements of every pass.
    pub fn skip(self, n: usize) -> Dataset<T> {
        let up = self.make;
        Dataset {
            make: Arc::new(move || Box::new(up().skip(n)) as BoxIter<T>),
        }
    }

    /// Keeps the elements of the first complete, error-free pass in memory and replays them
    /// on later passes (`tf.data`'s `cache()`), so that expensive upstream work (decoding)
    /// runs once.
    pub fn cache(self) -> Dataset<T>
    where
        T: Clone + Sync,
    {
        let store: Arc<Mutex<Option<Arc<Vec<T>>>>> = Arc::new(Mutex::new(None));
        let up = self.make;
        Dataset {
            make: Arc::new(move || {
                let cached = store.lock().ok().and_then(|s| s.clone());
                if let Some(items) = cached {
                    return Box::new((0..items.len()).map(move |i| Ok(items[i].clone())))
                        as BoxIter<T>;
                }
                let mut it = up();
                let mut seen: Option<Vec<T>> = Some(Vec::new());
                let store = Arc::clone(&store);
                Box::new(std::iter::from_fn(move || match it.next() {
                    Some(Ok(x)) => {
                        if let Some(s) = seen.as_mut() {
                            s.push(x.clone());
                        }
                        Some(Ok(x))
                    }
                    Some(Err(e)) => {
                        seen = None;
                        Some(Err(e))
                    }
                    None => {
                        if let (Some(s), Ok(mut slot)) = (seen.take(), store.lock()) {
                            *slot = Some(Arc::new(s));
                        }
                        None
                    }
                })) as BoxIter<T>
            }),
        }
    }

    /// Prepares up to `buffer_size` elements ahead on a worker thread, so that the upstream
    /// pipeline (decoding, shuffling, batching) overlaps with the caller's work. The order is
    /// unchanged. The worker stops when the pass ends or the iterator is dropped.
    pub fn prefetch(self, buffer_size: usize) -> Dataset<T> {
        let n = buffer_size.max(1);
        let up = self.make;
        Dataset {
            make: Arc::new(move || {
                Box::new(Prefetch {
                    rx: None,
                    up: Some(Arc::clone(&up)),
                    n,
                    handle: None,
                }) as BoxIter<T>
            }),
        }
    }

    /// Runs one full pass and collects the elements (stops at the first error).
    pub fn collect_vec(&self) -> Result<Vec<T>> {
        self.iter().collect()
    }
}

fn mix_seed(seed: u64, epoch: u64) -> u64 {
    let mut z = seed ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

struct ParMap<T, U, F> {
    up: BoxIter<T>,
    f: Arc<F>,
    chunk: usize,
    ready: std::collections::VecDeque<Result<U>>,
}

impl<T, U, F> Iterator for ParMap<T, U, F>
where
    T: Send,
    U: Send,
    F: Fn(T) -> Result<U> + Send + Sync,
{
    type Item = Result<U>;
    fn next(&mut self) -> Option<Result<U>> {
        if self.ready.is_empty() {
            let items: Vec<Result<T>> = self.up.by_ref().take(self.chunk).collect();
            if items.is_empty() {
                return None;
            }
            let f = &*self.f;
            let out: Vec<Result<U>> = if items.len() == 1 {
                items.into_iter().map(|r| r.and_then(f)).collect()
            } else {
                items
                    .into_par_iter()
                    .with_max_len(1)
                    .map(|r| r.and_then(f))
                    .collect()
            };
            self.ready.extend(out);
        }
        self.ready.pop_front()
    }
}

struct Shuffle<T> {
    up: BoxIter<T>,
    buf: Vec<T>,
    cap: usize,
    rng: StdRng,
    up_done: bool,
}

impl<T> Iterator for Shuffle<T> {
    type Item = Result<T>;
    fn next(&mut self) -> Option<Result<T>> {
        while !self.up_done && self.buf.len() < self.cap {
            match self.up.next() {
                Some(Ok(x)) => self.buf.push(x),
                Some(Err(e)) => return Some(Err(e)),
                None => self.up_done = true,
            }
        }
        if self.buf.is_empty() {
            return None;
        }
        let i = self.rng.gen_range(0..self.buf.len());
        Some(Ok(self.buf.swap_remove(i)))
    }
}

struct Prefetch<T> {
    rx: Option<Receiver<Result<T>>>,
    up: Option<Factory<T>>,
    n: usize,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl<T: Send + 'static> Iterator for Prefetch<T> {
    type Item = Result<T>;
    fn next(&mut self) -> Option<Result<T>> {
        if let Some(up) = self.up.take() {
            let (tx, rx) = sync_channel(self.n);
            let spawned = std::thread::Builder::new()
                .name("staticflow-prefetch".into())
                .spawn(move || {
                    for item in up() {
                        if tx.send(item).is_err() {
                            break;
                        }
                    }
                });
            match spawned {
                Ok(h) => {
                    self.handle = Some(h);
                    self.rx = Some(rx);
                }
                Err(e) => {
                    return Some(Err(Error::InvalidArgument(format!(
                        "prefetch: cannot start a worker thread: {e}"
                    ))))
                }
            }
        }
        let rx = self.rx.as_ref()?;
        match rx.recv() {
            Ok(x) => Some(x),
            Err(_) => {
                self.rx = None;
                if let Some(h) = self.handle.take() {
                    if h.join().is_err() {
                        return Some(Err(Error::InvalidArgument(
                            "prefetch: the pipeline's worker thread panicked".into(),
                        )));
                    }
                }
                None
            }
        }
    }
}

impl<T> Drop for Prefetch<T> {
    fn drop(&mut self) {
        // Disconnect first so a worker blocked in `send` wakes up and ends; do not join: an
        // infinite upstream may be mid-element, and the thread ends on its next send.
        self.rx = None;
    }
}

impl<T: Send + 'static> Dataset<T> {
    /// A dataset of the slices of `s` along its first axis (`from_tensor_slices`): an array
    /// `[n, ..]` gives `n` elements `[..]`; a tuple of arrays gives tuples. The components'
    /// first axes must agree.
    pub fn from_tensor_slices<S>(s: S) -> Result<Self>
    where
        S: Slices<Item = T> + SliceLengths,
    {
        let lens = s.lengths();
        if lens.windows(2).any(|w| w[0] != w[1]) {
            return Err(Error::InvalidArgument(format!(
                "from_tensor_slices: components have different lengths {lens:?}"
            )));
        }
        let s = Arc::new(s);
        Ok(Dataset::from_fn(move || {
            let s = Arc::clone(&s);
            (0..s.num_slices()).map(move |i| s.slice(i))
        }))
    }
}

/// A counter of produced items, e.g. to measure a pipeline's throughput from inside a map.
#[derive(Clone, Debug, Default)]
pub struct Counter(Arc<AtomicUsize>);

impl Counter {
    /// Adds `n`.
    pub fn add(&self, n: usize) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    /// The current count.
    pub fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

/// The contiguous part of `len` items that shard `index` of `num_shards` takes when a global
/// batch is split over data-parallel ranks: sizes differ by at most one, in rank order.
///
/// Errors: `num_shards` is 0, `index >= num_shards`, or `len < num_shards` (a rank would get
/// no data).
pub fn shard_range(len: usize, num_shards: usize, index: usize) -> Result<std::ops::Range<usize>> {
    if num_shards == 0 || index >= num_shards {
        return Err(Error::InvalidArgument(format!(
            "shard {index} of {num_shards} does not exist"
        )));
    }
    if len < num_shards {
        return Err(Error::InvalidArgument(format!(
            "a batch of {len} examples cannot be split over {num_shards} ranks (each rank needs at least one)"
        )));
    }
    Ok(len * index / num_shards..len * (index + 1) / num_shards)
}
