//! The crate's one error type. Every variant carries structured fields naming the culprit
//! (node names, expected and actual shapes, file and line) so that messages are actionable.

use std::path::PathBuf;

/// Result alias used throughout staticflow.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while building, differentiating, running or saving a graph.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// An op was added with operands whose shapes or dtypes do not fit the op's rule.
    #[error("cannot add `{op}` node `{node}`: {reason}; operands: {}", fmt_operands(.operands))]
    Shape {
        /// Op kind, e.g. `MatMul`.
        op: String,
        /// Name the new node would have had.
        node: String,
        /// `(name, shape and dtype)` of every operand, in order.
        operands: Vec<(String, String)>,
        /// What the op's rule says is wrong.
        reason: String,
    },
    /// An op was built from an operand that itself failed to build.
    #[error("`{node}` uses `{input}`, which failed to build: {cause}")]
    PoisonedInput {
        /// The node being built.
        node: String,
        /// The failed operand.
        input: String,
        /// The first error, as text.
        cause: String,
    },
    /// A node was added to a graph after a session froze it.
    #[error("graph is frozen by a session: node `{node}` was added after `Session::new`; build the whole graph before creating a session")]
    GraphFrozen {
        /// The offending node.
        node: String,
    },
    /// Tensors from two different graphs were combined, or fetched from the wrong session.
    #[error("`{node}` belongs to another graph than {context}")]
    ForeignTensor {
        /// The foreign tensor's node name.
        node: String,
        /// What it was used with.
        context: String,
    },
    /// Placeholders that the requested targets need were not fed.
    #[error("placeholders not fed: {}", .missing.iter().map(|(p, t)| format!("`{p}` (needed by `{t}`)")).collect::<Vec<_>>().join(", "))]
    MissingFeeds {
        /// `(placeholder, target that needs it)` pairs, one per missing placeholder.
        missing: Vec<(String, String)>,
    },
    /// A fed value does not match the fed tensor's declared shape or dtype.
    #[error("cannot feed value of shape {got} ({got_dtype}) to `{node}`, which has shape {expected} ({expected_dtype})")]
    FeedMismatch {
        /// The fed tensor.
        node: String,
        /// Its declared shape, e.g. `[?, 10]`.
        expected: String,
        /// Its declared dtype.
        expected_dtype: String,
        /// Shape of the value actually fed.
        got: String,
        /// Dtype of the value actually fed.
        got_dtype: String,
    },
    /// The same tensor was fed twice in one run.
    #[error("`{node}` is fed more than once in one run; feed each tensor once")]
    DuplicateFeed {
        /// The tensor fed twice.
        node: String,
    },
    /// The nodes a run needs depend on each other in a cycle (through control
    /// dependencies added after the fact), so no order can run them. A defensive check:
    /// the builders cannot close a loop (variables and their initializers are made outside
    /// `control_dependencies` blocks, as TF1's `init_scope`), and graph files with a
    /// cycle are refused when read.
    #[error("cycle in the graph: {}; no order can run it", .cycle.iter().map(|n| format!("`{n}`")).chain(.cycle.first().map(|n| format!("`{n}`"))).collect::<Vec<_>>().join(" -> "))]
    Cycle {
        /// The nodes of the cycle, each running after the one before it (and the first
        /// after the last).
        cycle: Vec<String>,
    },
    /// A variable was read before any initializer ran in this session.
    #[error("attempting to use uninitialized variable `{variable}`; run `global_variables_initializer()` (or restore a checkpoint) first")]
    UninitializedVariable {
        /// The variable's name.
        variable: String,
    },
    /// A kernel failed at run time (e.g. batch sizes of two feeds disagree).
    #[error("running `{node}` ({op}): {reason}")]
    Runtime {
        /// The failing node.
        node: String,
        /// Its op kind.
        op: String,
        /// What went wrong, with the runtime shapes involved.
        reason: String,
    },
    /// `minimize` found no trainable variable that the loss depends on.
    #[error("no gradients: loss `{loss}` does not depend on any trainable variable{}", if .candidates.is_empty() { String::from(" (the graph has none)") } else { format!(" among {}", .candidates.join(", ")) })]
    NoPathToVariables {
        /// The loss.
        loss: String,
        /// Trainable variables that were considered.
        candidates: Vec<String>,
    },
    /// A variable in an explicit `var_list` has no path to the loss.
    #[error("variable `{variable}` in var_list has no path to loss `{loss}`")]
    UnconnectedVariable {
        /// The unconnected variable.
        variable: String,
        /// The loss.
        loss: String,
    },
    /// An op on the path from a variable to the loss has no gradient rule.
    #[error("op `{node}` ({op}) on the path from `{x}` to `{y}` has no gradient")]
    NoGradient {
        /// The node lacking a gradient.
        node: String,
        /// Its op kind.
        op: String,
        /// The differentiated-with-respect-to tensor.
        x: String,
        /// The differentiated tensor.
        y: String,
    },
    /// An initial gradient given to `gradients_with` does not fit its `y`.
    #[error("grad_ys: `{grad_y}` ({got}) cannot be the initial gradient of `{y}` ({expected}); it needs the same dtype and a compatible shape")]
    GradYsMismatch {
        /// The differentiated tensor.
        y: String,
        /// Its static type.
        expected: String,
        /// The initial gradient given for it.
        grad_y: String,
        /// The initial gradient's static type.
        got: String,
    },
    /// A value had another dtype or rank than a caller asked for.
    #[error("value mismatch: {0}")]
    Value(String),
    /// An invalid argument to a builder or API call.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// Reading or writing a file failed.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What happened.
        message: String,
    },
    /// A file was read but its contents could not be decoded (truncated or corrupt image).
    #[error("{path}: {message}")]
    Decode {
        /// The file.
        path: PathBuf,
        /// What the decoder reported.
        message: String,
    },
    /// A text input file has a malformed line.
    #[error("{path}:{line}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        message: String,
    },
    /// A graph file is malformed, has another format or version, names an unknown op or an
    /// undefined input, or describes a node that no longer builds.
    #[error("{path}: {}{message}", if .node.is_empty() { String::new() } else { format!("node `{}`: ", .node) })]
    GraphFile {
        /// The file (`<string>` when read from a string).
        path: PathBuf,
        /// The offending node's name (empty for file-level problems).
        node: String,
        /// What is wrong.
        message: String,
    },
    /// A checkpoint entry (or the whole file, `tensor` empty) failed its integrity check.
    #[error("{path}: corrupt checkpoint{}: {message}", if .tensor.is_empty() { String::new() } else { format!(", entry `{}`", .tensor) })]
    CorruptCheckpoint {
        /// The file.
        path: PathBuf,
        /// The damaged entry (empty for file-level problems).
        tensor: String,
        /// What failed (e.g. the stored and computed CRC32C).
        message: String,
    },
    /// A numeric check (`check_numerics`, or the session's check of every output) found NaN
    /// or infinity. The message names the node's name scope (see [`Error::scope`]).
    #[error("{message}: found {found} in `{node}` ({op}){}", fmt_culprit(.node, .bad_input))]
    Numerics {
        /// The node whose output holds NaN or Inf.
        node: String,
        /// Its op kind.
        op: &'static str,
        /// `"NaN"`, `"Inf"` or `"Inf and NaN"`.
        found: &'static str,
        /// An input of the node that already held NaN or Inf, if any (else the node made it).
        bad_input: Option<String>,
        /// The `check_numerics` message, or what checked.
        message: String,
    },
    /// A multi-task task set names the same task twice.
    #[error("duplicate task name `{task}` in the task set")]
    DuplicateTask {
        /// The repeated name.
        task: String,
    },
    /// A multi-task strategy got fewer than two tasks.
    #[error("a multi-task strategy needs at least two tasks, got {}: {}", .tasks.len(), if .tasks.is_empty() { String::from("none") } else { .tasks.join(", ") })]
    TooFewTasks {
        /// The tasks it got.
        tasks: Vec<String>,
    },
    /// A task's loss is not an f32 scalar.
    #[error("task `{task}`: loss `{loss}` must be an f32 scalar, got {got}")]
    NonScalarLoss {
        /// The task.
        task: String,
        /// The loss tensor.
        loss: String,
        /// Its static type.
        got: String,
    },
    /// A task's loss depends on no trainable variable.
    #[error("task `{task}`: loss `{loss}` reaches no trainable variable")]
    TaskWithoutVariables {
        /// The task.
        task: String,
        /// The loss tensor.
        loss: String,
    },
    /// No trainable variable is on the path of two or more tasks (nothing to balance).
    #[error("no shared variables: no trainable variable is on the path of two or more of the tasks {}", .tasks.join(", "))]
    NoSharedVariables {
        /// The tasks.
        tasks: Vec<String>,
    },
    /// A multi-task strategy name (or its argument) is not known.
    #[error("unknown multi-task strategy `{name}`; valid: {}", .valid.join(", "))]
    UnknownStrategy {
        /// The name given.
        name: String,
        /// Every valid name.
        valid: Vec<String>,
    },
    /// A checkpoint or graph file does not match the graph.
    #[error("{path}: does not match the graph: {}", .mismatches.join("; "))]
    Mismatch {
        /// The file.
        path: PathBuf,
        /// One line per mismatching name or shape.
        mismatches: Vec<String>,
    },
    /// Data-parallel ranks built different graphs (`distributed::check_same_graph`).
    #[error("rank {rank} built a different graph than rank 0: first differing node #{index}: rank 0 has {root_node}, rank {rank} has {rank_node}")]
    GraphMismatch {
        /// The lowest rank whose graph differs from rank 0's.
        rank: usize,
        /// Position of the first differing node (graph order).
        index: usize,
        /// Rank 0's node there (name, op), or `(none)`.
        root_node: String,
        /// That rank's node there (name, op), or `(none)`.
        rank_node: String,
    },
    /// A collective operation (broadcast, gather, barrier, allreduce) failed: a rank left,
    /// timed out or MPI reported an error.
    #[error("communicator (rank {rank} of {size}): {reason}")]
    Communicator {
        /// This process's rank.
        rank: usize,
        /// Number of ranks.
        size: usize,
        /// What went wrong.
        reason: String,
    },
}

fn fmt_operands(ops: &[(String, String)]) -> String {
    ops.iter()
        .map(|(n, s)| format!("`{n}` {s}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn fmt_culprit(node: &str, bad_input: &Option<String>) -> String {
    let mut s = String::new();
    let scope = scope_of(node);
    if !scope.is_empty() {
        s.push_str(&format!(" in scope `{scope}`"));
    }
    match bad_input {
        Some(i) => s.push_str(&format!("; its input `{i}` already held NaN or Inf")),
        None => s.push_str("; its inputs were finite, so this node produced it"),
    }
    s
}

/// For `?` on `std::io` calls in user code; prefer [`Error::io`], which names the file.
impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io {
            path: PathBuf::from("<io>"),
            message: e.to_string(),
        }
    }
}

/// The name scope of a node name: everything before its last `/` (empty at the root).
fn scope_of(node: &str) -> &str {
    node.rsplit_once('/').map_or("", |(s, _)| s)
}

impl Error {
    /// The name scope of the node a [`Error::Numerics`] names (empty at the root), else `None`.
    pub fn scope(&self) -> Option<&str> {
        match self {
            Error::Numerics { node, .. } => Some(scope_of(node)),
            _ => None,
        }
    }

    /// Wraps an `std::io::Error` with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, e: impl std::fmt::Display) -> Self {
        Error::Io {
            path: path.into(),
            message: e.to_string(),
        }
    }
}
