//! The TensorFlow protobuf messages an event file holds, written by hand with `prost` derives
//! (field numbers and types from TensorFlow's `event.proto`, `summary.proto`, `graph.proto`,
//! `node_def.proto`, `attr_value.proto`, `tensor.proto`, `tensor_shape.proto`), so building
//! needs no `protoc`. Only the fields staticflow writes or reads back are declared; a `oneof`
//! is declared as optional fields, which encode identically when one is set.

use std::collections::HashMap;

/// TensorFlow's `DataType` enum values used here.
pub mod data_type {
    /// `DT_FLOAT`.
    pub const FLOAT: i32 = 1;
    /// `DT_STRING`.
    pub const STRING: i32 = 7;
    /// `DT_INT64`.
    pub const INT64: i32 = 9;
    /// `DT_BOOL`.
    pub const BOOL: i32 = 10;
}

/// One record of an event file.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Event {
    /// Seconds since the Unix epoch.
    #[prost(double, tag = "1")]
    pub wall_time: f64,
    /// Global step of the summary.
    #[prost(int64, tag = "2")]
    pub step: i64,
    /// `"brain.Event:2"` in the first record of a file.
    #[prost(string, optional, tag = "3")]
    pub file_version: Option<String>,
    /// A serialized [`GraphDef`].
    #[prost(bytes = "vec", optional, tag = "4")]
    pub graph_def: Option<Vec<u8>>,
    /// Summary values of one step.
    #[prost(message, optional, tag = "5")]
    pub summary: Option<Summary>,
    /// Per-node timings of one run, for the Graphs tab.
    #[prost(message, optional, tag = "8")]
    pub tagged_run_metadata: Option<TaggedRunMetadata>,
}

/// `RunMetadata` of one run, under a tag.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TaggedRunMetadata {
    /// The tag shown in the Graphs tab's run selector.
    #[prost(string, tag = "1")]
    pub tag: String,
    /// A serialized [`RunMetadata`].
    #[prost(bytes = "vec", tag = "2")]
    pub run_metadata: Vec<u8>,
}

/// A list of tagged values (TF's `Summary`). Concatenating two encoded summaries gives the
/// encoding of their merge, which is how `merge` works.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Summary {
    /// The values.
    #[prost(message, repeated, tag = "1")]
    pub value: Vec<SummaryValue>,
}

/// One tagged value: a scalar, histogram, image or tensor (TF's `Summary.Value`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct SummaryValue {
    /// The tag, e.g. `loss/pos`.
    #[prost(string, tag = "1")]
    pub tag: String,
    /// A scalar.
    #[prost(float, optional, tag = "2")]
    pub simple_value: Option<f32>,
    /// An image.
    #[prost(message, optional, tag = "4")]
    pub image: Option<Image>,
    /// A histogram.
    #[prost(message, optional, tag = "5")]
    pub histo: Option<HistogramProto>,
    /// A tensor (text summaries).
    #[prost(message, optional, tag = "8")]
    pub tensor: Option<TensorProto>,
    /// Which TensorBoard plugin shows the value.
    #[prost(message, optional, tag = "9")]
    pub metadata: Option<SummaryMetadata>,
}

/// An encoded image (TF's `Summary.Image`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Image {
    /// Height in pixels.
    #[prost(int32, tag = "1")]
    pub height: i32,
    /// Width in pixels.
    #[prost(int32, tag = "2")]
    pub width: i32,
    /// 1 grayscale, 2 grayscale + alpha, 3 RGB, 4 RGBA.
    #[prost(int32, tag = "3")]
    pub colorspace: i32,
    /// The PNG file's bytes.
    #[prost(bytes = "vec", tag = "4")]
    pub encoded_image_string: Vec<u8>,
}

/// A histogram: bucket `i` counts values in `(bucket_limit[i-1], bucket_limit[i]]`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HistogramProto {
    /// Smallest value.
    #[prost(double, tag = "1")]
    pub min: f64,
    /// Largest value.
    #[prost(double, tag = "2")]
    pub max: f64,
    /// Number of values.
    #[prost(double, tag = "3")]
    pub num: f64,
    /// Sum of the values.
    #[prost(double, tag = "4")]
    pub sum: f64,
    /// Sum of their squares.
    #[prost(double, tag = "5")]
    pub sum_squares: f64,
    /// Right edges of the buckets.
    #[prost(double, repeated, tag = "6")]
    pub bucket_limit: Vec<f64>,
    /// Counts.
    #[prost(double, repeated, tag = "7")]
    pub bucket: Vec<f64>,
}

/// Which plugin shows a value (TF's `SummaryMetadata`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct SummaryMetadata {
    /// The plugin.
    #[prost(message, optional, tag = "1")]
    pub plugin_data: Option<PluginData>,
}

/// A plugin's name and its per-value content.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PluginData {
    /// E.g. `"text"`.
    #[prost(string, tag = "1")]
    pub plugin_name: String,
    /// Plugin-specific bytes.
    #[prost(bytes = "vec", tag = "2")]
    pub content: Vec<u8>,
}

/// A tensor value (only what text summaries need).
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorProto {
    /// A [`data_type`] value.
    #[prost(int32, tag = "1")]
    pub dtype: i32,
    /// The shape (empty: a scalar).
    #[prost(message, optional, tag = "2")]
    pub tensor_shape: Option<TensorShapeProto>,
    /// String elements.
    #[prost(bytes = "vec", repeated, tag = "8")]
    pub string_val: Vec<Vec<u8>>,
}

/// A static shape; `-1` marks an unknown dimension.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorShapeProto {
    /// The dimensions.
    #[prost(message, repeated, tag = "2")]
    pub dim: Vec<Dim>,
    /// True when even the rank is unknown.
    #[prost(bool, tag = "3")]
    pub unknown_rank: bool,
}

/// One dimension of a [`TensorShapeProto`].
#[derive(Clone, PartialEq, prost::Message)]
pub struct Dim {
    /// Size, `-1` when unknown.
    #[prost(int64, tag = "1")]
    pub size: i64,
}

/// A graph as TensorBoard's Graphs tab reads it.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GraphDef {
    /// The nodes.
    #[prost(message, repeated, tag = "1")]
    pub node: Vec<NodeDef>,
    /// Producer version.
    #[prost(message, optional, tag = "4")]
    pub versions: Option<VersionDef>,
}

/// The GraphDef's version.
#[derive(Clone, PartialEq, prost::Message)]
pub struct VersionDef {
    /// The producer's GraphDef version.
    #[prost(int32, tag = "1")]
    pub producer: i32,
}

/// One node: scoped name, op kind, inputs (`name`, or `^name` for a control input), attrs.
#[derive(Clone, PartialEq, prost::Message)]
pub struct NodeDef {
    /// Scoped name, e.g. `shared/lstm/LstmForward`.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Op kind, e.g. `MatMul`.
    #[prost(string, tag = "2")]
    pub op: String,
    /// Data inputs by name, then control inputs as `^name`.
    #[prost(string, repeated, tag = "3")]
    pub input: Vec<String>,
    /// Device (always empty here).
    #[prost(string, tag = "4")]
    pub device: String,
    /// Attributes: `dtype`, `_output_shapes`, and the op's own attributes as strings.
    #[prost(map = "string, message", tag = "5")]
    pub attr: HashMap<String, AttrValue>,
}

/// An attribute value (TF's `AttrValue`; one of the fields is set).
#[derive(Clone, PartialEq, prost::Message)]
pub struct AttrValue {
    /// A list (used for `_output_shapes`).
    #[prost(message, optional, tag = "1")]
    pub list: Option<AttrList>,
    /// A string.
    #[prost(bytes = "vec", optional, tag = "2")]
    pub s: Option<Vec<u8>>,
    /// A [`data_type`] value.
    #[prost(int32, optional, tag = "6")]
    pub r#type: Option<i32>,
    /// A shape.
    #[prost(message, optional, tag = "7")]
    pub shape: Option<TensorShapeProto>,
}

/// A list attribute (only shapes are used).
#[derive(Clone, PartialEq, prost::Message)]
pub struct AttrList {
    /// Shapes.
    #[prost(message, repeated, tag = "7")]
    pub shape: Vec<TensorShapeProto>,
}

/// Per-node timings of one run (TF's `RunMetadata.step_stats`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct RunMetadata {
    /// The timings.
    #[prost(message, optional, tag = "1")]
    pub step_stats: Option<StepStats>,
}

/// Timings grouped by device.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StepStats {
    /// One entry per device (here one, the CPU).
    #[prost(message, repeated, tag = "1")]
    pub dev_stats: Vec<DeviceStepStats>,
}

/// Timings of the nodes run on one device.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DeviceStepStats {
    /// Device name.
    #[prost(string, tag = "1")]
    pub device: String,
    /// One entry per executed node.
    #[prost(message, repeated, tag = "2")]
    pub node_stats: Vec<NodeExecStats>,
}

/// One executed node's timing.
#[derive(Clone, PartialEq, prost::Message)]
pub struct NodeExecStats {
    /// The node's name.
    #[prost(string, tag = "1")]
    pub node_name: String,
    /// Start, microseconds since the epoch.
    #[prost(int64, tag = "2")]
    pub all_start_micros: i64,
    /// Duration in microseconds.
    #[prost(int64, tag = "5")]
    pub all_end_rel_micros: i64,
}
