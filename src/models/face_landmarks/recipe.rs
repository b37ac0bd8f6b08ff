//! The training recipe of `examples/face_landmarks.rs` as library code: which MTFL tasks
//! become heads, how inputs and labels are scaled, augmentation, class weights, the
//! learning-rate schedule, and one train + evaluate + predict run through the [`Estimator`].
//!
//! ```no_run
//! use staticflow::data::{image::{ImageOptions, OnError}, mtfl};
//! use staticflow::models::face_landmarks::Recipe;
//! # fn main() -> staticflow::Result<()> {
//! let dir = mtfl::locate(None)?;
//! let opts = ImageOptions::default();
//! let train = mtfl::load_split(&dir, "training", &opts, OnError::Fail)?;
//! let test = mtfl::load_split(&dir, "testing", &opts, OnError::Fail)?;
//! let recipe = Recipe::default(); // nose + pose, 1000 steps, batch 64, Adam 1e-3
//! let data = recipe.prepare(train, test)?;
//! let run = recipe.train_and_evaluate(&data, "fixed")?;
//! println!("{:?}", run.metrics); // rmse/head_nose, accuracy/head_pose, ...
//! # Ok(()) }
//! ```

use crate::data::augment::{AugmentOptions, Transform};
use crate::data::image::per_image_standardization;
use crate::data::mtfl::{self, MtflSplit};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::graph::{Graph, Value};
use crate::heads::{
    inverse_frequency_weights, Batch, Estimator, Head, MultiClassHead, MultiHead, RegressionHead,
    Weighting,
};
use crate::session::Session;
use crate::train::{cosine_decay, get_or_create_global_step, Adam, Optimizer};
use ndarray::{Array1, Array2, Array3, Array4, Axis};
use std::collections::BTreeMap;
use std::sync::Arc;

/// One MTFL task: a landmark (regression of its normalised x, y) or an attribute (classes).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Task {
    /// Landmark `k` of [`mtfl::LANDMARKS`] (2 = nose).
    Landmark(usize),
    /// All five landmarks as one regression task of 10 values (`landmarks`).
    Landmarks,
    /// Attribute `k` of [`mtfl::ATTRIBUTES`] (3 = pose).
    Attribute(usize),
}

impl std::str::FromStr for Task {
    type Err = Error;
    /// A landmark or attribute name, e.g. `nose` or `pose`, or `landmarks` (all five).
    fn from_str(name: &str) -> Result<Task> {
        if name == "landmarks" {
            return Ok(Task::Landmarks);
        }
        if let Some(k) = mtfl::LANDMARKS.iter().position(|l| *l == name) {
            return Ok(Task::Landmark(k));
        }
        mtfl::ATTRIBUTES
            .iter()
            .position(|a| *a == name)
            .map(Task::Attribute)
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "unknown head `{name}`; choose from {}, landmarks, {}",
                    mtfl::LANDMARKS.join(", "),
                    mtfl::ATTRIBUTES.join(", ")
                ))
            })
    }
}

impl Task {
    /// Every MTFL task as its own head: the five landmarks, then gender, smile, glasses and
    /// pose (nine tasks; `--heads all` of the example).
    pub fn all() -> Vec<(String, Task)> {
        let lm = mtfl::LANDMARKS.iter().enumerate();
        let at = mtfl::ATTRIBUTES.iter().enumerate();
        lm.map(|(k, n)| (n.to_string(), Task::Landmark(k)))
            .chain(at.map(|(k, n)| (n.to_string(), Task::Attribute(k))))
            .collect()
    }
}

/// How images are scaled before the network.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum InputScaling {
    /// As decoded, in `[0, 1]`.
    Unit,
    /// Each image to mean 0, std 1 ([`per_image_standardization`]).
    PerImage,
    /// In the graph: minus the training set's per-channel mean, over its std.
    Standardize,
}

/// Per-class weights of classification losses ([`inverse_frequency_weights`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ClassWeighting {
    /// All 1.
    None,
    /// `1/sqrt(class frequency)`.
    Sqrt,
    /// `1/(class frequency)`.
    Balanced,
}

impl ClassWeighting {
    /// The `power` of [`inverse_frequency_weights`] (`None`: no weights).
    pub fn power(self) -> Option<f64> {
        match self {
            ClassWeighting::None => None,
            ClassWeighting::Sqrt => Some(0.5),
            ClassWeighting::Balanced => Some(1.0),
        }
    }
}

/// The learning rate over the run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LrSchedule {
    /// Fixed.
    Constant,
    /// [`cosine_decay`] to 0 over the run's steps.
    Cosine,
}

/// Implements `FromStr` (names as on the example's command line) for a unit enum.
macro_rules! parse_names {
    ($t:ty, $what:literal, $($name:literal => $v:expr),+ $(,)?) => {
        impl std::str::FromStr for $t {
            type Err = Error;
            fn from_str(s: &str) -> Result<$t> {
                match s {
                    $($name => Ok($v),)+
                    _ => Err(Error::InvalidArgument(format!(
                        concat!($what, ": expected {}, got `{}`"),
                        [$($name),+].join("|"),
                        s
                    ))),
                }
            }
        }
    };
}
parse_names!(InputScaling, "input scaling", "unit" => InputScaling::Unit,
    "per_image" => InputScaling::PerImage, "standardize" => InputScaling::Standardize);
parse_names!(ClassWeighting, "class weighting", "none" => ClassWeighting::None,
    "sqrt" => ClassWeighting::Sqrt, "balanced" => ClassWeighting::Balanced);
parse_names!(LrSchedule, "learning-rate schedule", "constant" => LrSchedule::Constant,
    "cosine" => LrSchedule::Cosine);

/// Everything a training run depends on besides the data and the loss weighting.
/// [`Recipe::default`] is the example's default recipe (see its module doc for what each
/// choice bought on the test split).
#[derive(Clone, Debug)]
pub struct Recipe {
    /// Heads, by task name (`head_<name>`), in order.
    pub tasks: Vec<(String, Task)>,
    /// Training steps.
    pub steps: usize,
    /// Batch size.
    pub batch: usize,
    /// Graph seed, shuffling and augmentation seed.
    pub seed: u64,
    /// Adam's (initial) learning rate.
    pub lr: f32,
    /// Learning-rate schedule.
    pub lr_schedule: LrSchedule,
    /// Class weights of the attribute heads.
    pub class_weighting: ClassWeighting,
    /// Input scaling.
    pub input_scaling: InputScaling,
    /// Standardise landmark labels in their heads (by the training mean and std).
    pub label_scaling: bool,
    /// Random training transforms.
    pub augment: AugmentOptions,
    /// Fetch the strategy's per-task gradient cosines every this many steps (0 = never; see
    /// [`RunResult::mean_cosine`]).
    pub cosine_every: usize,
}

impl Default for Recipe {
    fn default() -> Self {
        Recipe {
            tasks: vec![
                ("nose".into(), Task::Landmark(2)),
                ("pose".into(), Task::Attribute(3)),
            ],
            steps: 1000,
            batch: 64,
            seed: 0,
            lr: 1e-3,
            lr_schedule: LrSchedule::Constant,
            class_weighting: ClassWeighting::Sqrt,
            input_scaling: InputScaling::PerImage,
            label_scaling: true,
            augment: AugmentOptions {
                flip: true,
                max_shift: 2,
                max_zoom: 1.5,
            },
            cosine_every: 0,
        }
    }
}

/// The training and test splits scaled as the recipe says, ready for any number of runs.
pub struct PreparedData {
    train: Arc<TaskSplit>,
    test: Arc<TaskSplit>,
    channel_stats: (Vec<f32>, Vec<f32>),
}

/// What one run gives.
#[derive(Clone, Debug)]
pub struct RunResult {
    /// The loss weighting it used.
    pub weighting: String,
    /// Test-split metrics under TF-style names (see [`Estimator::evaluate`]).
    pub metrics: BTreeMap<String, f64>,
    /// Training steps per second (wall time, input waits included; probed steps left out).
    pub steps_per_s: f64,
    /// Mean pairwise cosine of the per-task gradients on the shared variables over the
    /// probed steps ([`Recipe::cosine_every`]; `None` without probes, e.g. `alternate`).
    pub mean_cosine: Option<f64>,
    /// Final loss weight of each head.
    pub weights: Vec<f32>,
    /// Test-split predictions, `<head>/<name>` (e.g. `head_pose/class_ids`).
    pub predictions: BTreeMap<String, Value>,
    /// Total training loss of every step (heads' losses in their own units: a scaled
    /// regression head's loss is in standardised units).
    pub train_losses: Vec<f32>,
    /// Every trainable variable's name and final values (row-major), for histograms.
    pub variables: Vec<(String, Vec<f32>)>,
}

impl Recipe {
    /// Takes the splits and applies the recipe's input scaling (pass clones to keep the
    /// originals, e.g. the unscaled test images for display).
    pub fn prepare(&self, train: MtflSplit, test: MtflSplit) -> Result<PreparedData> {
        if self.tasks.is_empty() {
            return Err(Error::InvalidArgument("the recipe has no heads".into()));
        }
        if train.is_empty() {
            return Err(Error::InvalidArgument("the training split is empty".into()));
        }
        let channel_stats = channel_stats(&train.images);
        let split = |mut data: MtflSplit| {
            if self.input_scaling == InputScaling::PerImage {
                per_image_standardization(data.images.view_mut());
            }
            Arc::new(TaskSplit {
                data,
                tasks: self.tasks.clone(),
            })
        };
        Ok(PreparedData {
            train: split(train),
            test: split(test),
            channel_stats,
        })
    }

    /// Builds the model with `weighting` (a [`Weighting`] name such as `fixed` or `dwa`),
    /// trains it for `steps`, evaluates and predicts on the test split.
    pub fn train_and_evaluate(&self, data: &PreparedData, weighting: &str) -> Result<RunResult> {
        self.train_and_evaluate_parallel(data, weighting, &Parallel::default())
    }

    /// [`Recipe::train_and_evaluate`] as one rank of a data-parallel run (see [`Parallel`]):
    /// Adam goes through `parallel.optimizer`, the session through `parallel.sync` after
    /// initialisation, and each global batch of [`Recipe::batch`] is split by
    /// `parallel.shard`. Every rank evaluates on the whole test split.
    pub fn train_and_evaluate_parallel(
        &self,
        data: &PreparedData,
        weighting: &str,
        parallel: &Parallel<'_>,
    ) -> Result<RunResult> {
        let (rank, ranks) = parallel.shard;
        crate::data::shard_range(self.batch, ranks, rank)?;
        let g = Graph::with_seed(self.seed);
        let heads = self
            .tasks
            .iter()
            .map(|(name, t)| self.head(&data.train.data, name, *t))
            .collect::<Result<Vec<_>>>()?;
        let w: Weighting = weighting.parse()?;
        let opt = match self.lr_schedule {
            LrSchedule::Constant => Adam::new(self.lr),
            LrSchedule::Cosine => {
                let step = get_or_create_global_step(&g)?;
                Adam::new(cosine_decay(self.lr, step, self.steps as u64, 0.0))
            }
        };
        let (m, s) = &data.channel_stats;
        let stats = (self.input_scaling == InputScaling::Standardize)
            .then_some((m.as_slice(), s.as_slice()));
        let (x, spec) = super::build(
            &g,
            MultiHead::new(heads)
                .with_weighting(w)
                .with_diagnostics(self.cosine_every > 0),
            stats,
            Some(&*(parallel.optimizer)(opt)),
        )?;
        let cosines = spec.train.as_ref().and_then(|t| t.diagnostics);
        let mut est = Estimator::new(&g, &[("x", x)], spec)?;
        est.set_probe(cosines.map(|d| d.cosines), self.cosine_every);
        (parallel.sync)(est.session())?;
        let input = train_input(
            Arc::clone(&data.train),
            self.batch,
            self.seed,
            self.augment,
            parallel.shard,
        );
        let report = est.train(input.iter(), self.steps)?;
        let mut cos = Vec::new();
        for v in &report.probes {
            let a = v.as_f32()?;
            let flat: Vec<f32> = a.iter().copied().collect();
            cos.extend(crate::mtl::mean_off_diagonal(&flat, self.tasks.len()));
        }
        let metrics = est.evaluate(eval_input(Arc::clone(&data.test), 500).iter())?;
        let weights = est.head_weights()?;
        let predictions = est.predict(eval_input(Arc::clone(&data.test), 500).iter())?;
        let variables = g
            .trainable_variables()
            .into_iter()
            .map(|v| {
                let a = est.session().variable_value(v)?.as_f32()?;
                Ok((v.name(), a.iter().copied().collect()))
            })
            .collect::<Result<_>>()?;
        Ok(RunResult {
            train_losses: report.losses.clone(),
            variables,
            weighting: weighting.to_string(),
            metrics,
            steps_per_s: report.steps_per_second(),
            mean_cosine: (!cos.is_empty()).then(|| cos.iter().sum::<f64>() / cos.len() as f64),
            weights,
            predictions,
        })
    }

    /// The head of task `t`, its scaling or class weights taken from the training labels.
    fn head(&self, train: &MtflSplit, name: &str, t: Task) -> Result<Box<dyn Head>> {
        let hn = format!("head_{name}");
        Ok(match t {
            Task::Landmark(_) | Task::Landmarks => {
                let y = task_landmarks(&train.landmarks, t);
                let mut head = RegressionHead::new(&hn, y.ncols());
                if self.label_scaling {
                    let m = y.mean_axis(Axis(0)).expect("non-empty training split");
                    let s = y.std_axis(Axis(0), 0.0);
                    head = head.with_label_scaling(m.to_vec(), s.to_vec());
                }
                Box::new(head)
            }
            Task::Attribute(k) => {
                let n = mtfl::ATTRIBUTE_CLASSES[k];
                let head = MultiClassHead::new(&hn, n);
                let labels = train.attributes.index_axis(Axis(1), k);
                Box::new(match self.class_weighting.power() {
                    None => head,
                    Some(p) => head.with_class_weights(inverse_frequency_weights(labels, n, p))?,
                })
            }
        })
    }
}

/// What changes in a run that is one rank of data-parallel training (the example builds it
/// from `distributed::World`; [`Parallel::default`] is one process).
pub struct Parallel<'a> {
    /// Wraps the run's Adam (e.g. `World::optimizer`: a `DistributedOptimizer` with several
    /// ranks, which also makes the loss weighting data-parallel).
    pub optimizer: &'a dyn Fn(Adam) -> Box<dyn Optimizer>,
    /// Called once after the variables are initialised (e.g. `World::sync_session`: the
    /// same graph on every rank, rank 0's variables).
    pub sync: &'a dyn Fn(&mut Session<'_>) -> Result<()>,
    /// `(rank, ranks)`: this rank trains on its contiguous part of each global batch
    /// ([`crate::data::shard_range`]).
    pub shard: (usize, usize),
}

impl Default for Parallel<'_> {
    fn default() -> Self {
        Parallel {
            optimizer: &|adam| Box::new(adam),
            sync: &|_| Ok(()),
            shard: (0, 1),
        }
    }
}

/// A split and the tasks to feed.
struct TaskSplit {
    data: MtflSplit,
    tasks: Vec<(String, Task)>,
}

impl TaskSplit {
    /// The faces `idx`, each transformed as `aug` says (no entry: unchanged), with the
    /// labels of every task.
    fn batch(&self, idx: &[usize], aug: &[Transform]) -> Batch {
        let (x, landmarks, attributes) = self.data.transformed(idx, aug);
        let mut b = Batch::new().feature("x", x);
        for (name, t) in &self.tasks {
            let hn = format!("head_{name}");
            b = match t {
                Task::Attribute(k) => b.label(&hn, attributes.index_axis(Axis(1), *k).to_owned()),
                _ => b.label(&hn, task_landmarks(&landmarks, *t)),
            };
        }
        b
    }
}

/// A landmark task's labels from `[n, 5, 2]` landmarks: `[n, 2]` for one landmark, `[n, 10]`
/// (x0, y0, x1, ...) for all five. Attributes: no columns.
fn task_landmarks(landmarks: &Array3<f32>, t: Task) -> Array2<f32> {
    match t {
        Task::Landmark(k) => landmarks.index_axis(Axis(1), k).to_owned(),
        Task::Landmarks => {
            let (n, cols) = (
                landmarks.shape()[0],
                landmarks.shape()[1] * landmarks.shape()[2],
            );
            let flat: Vec<f32> = landmarks.iter().copied().collect();
            Array2::from_shape_vec((n, cols), flat).expect("n * cols values in standard order")
        }
        Task::Attribute(_) => Array2::zeros((landmarks.shape()[0], 0)),
    }
}

/// Shuffled, repeated, batched training input with random transforms drawn from `aug`, the
/// next batch prefetched.
fn train_input(
    data: Arc<TaskSplit>,
    batch: usize,
    seed: u64,
    aug: AugmentOptions,
    (rank, ranks): (usize, usize),
) -> Dataset<Batch> {
    use rand::SeedableRng;
    let n = data.data.len();
    let rng = std::sync::Mutex::new(rand::rngs::StdRng::seed_from_u64(seed ^ 0xF11F));
    Dataset::from_vec((0..n).collect::<Vec<usize>>())
        .shuffle(n, seed)
        .repeat(None)
        .batch(batch, true)
        .map_sequential(move |idx: Array1<usize>| {
            // This rank's part of the global batch (all of it with one rank).
            let idx = idx.to_vec()[crate::data::shard_range(idx.len(), ranks, rank)?].to_vec();
            let augs: Vec<Transform> = match rng.lock() {
                Ok(mut r) if !aug.is_none() => idx.iter().map(|_| aug.sample(&mut *r)).collect(),
                _ => vec![],
            };
            Ok(data.batch(&idx, &augs))
        })
        .prefetch(2)
}

/// A split in order, in batches of `batch`.
fn eval_input(data: Arc<TaskSplit>, batch: usize) -> Dataset<Batch> {
    let n = data.data.len();
    Dataset::from_vec((0..n).collect::<Vec<usize>>())
        .batch(batch, false)
        .map_sequential(move |idx: Array1<usize>| Ok(data.batch(&idx.to_vec(), &[])))
}

/// Per-channel mean and std (the std floored at 1e-3) of NHWC images.
fn channel_stats(images: &Array4<f32>) -> (Vec<f32>, Vec<f32>) {
    images
        .axis_iter(Axis(3))
        .map(|ch| (ch.mean().unwrap_or(0.0), ch.std(0.0).max(1e-3)))
        .unzip()
}
