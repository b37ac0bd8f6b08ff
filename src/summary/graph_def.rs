//! A [`Graph`] as a TensorFlow `GraphDef`, for TensorBoard's Graphs tab: scoped node names
//! (scopes become collapsible groups), op kinds, data inputs by name and control inputs as
//! `^name`, and attributes `dtype`, `_output_shapes` (edge labels) and `attrs` (the op's own
//! attributes as JSON, cut at 200 characters so large constants stay small).

use super::proto::{
    data_type, AttrList, AttrValue, Dim, GraphDef, NodeDef, TensorShapeProto, VersionDef,
};
use crate::graph::{DType, Graph, Shape};

/// TF's shape message for a static shape (unknown dimensions as `-1`).
pub fn shape_proto(s: &Shape) -> TensorShapeProto {
    TensorShapeProto {
        dim: (0..s.rank())
            .map(|i| Dim {
                size: s.dim(i).map_or(-1, |d| d as i64),
            })
            .collect(),
        unknown_rank: false,
    }
}

/// TF's `DataType` number of a dtype.
pub fn dtype_proto(d: DType) -> i32 {
    match d {
        DType::F32 => data_type::FLOAT,
        DType::I64 => data_type::INT64,
        DType::Bool => data_type::BOOL,
        DType::Bytes => data_type::STRING,
    }
}

/// The graph's nodes in creation order as a `GraphDef`.
pub fn graph_def(graph: &Graph) -> GraphDef {
    let dag = graph.dag();
    let node = dag
        .node_indices()
        .map(|i| {
            let n = &dag[i];
            let mut input: Vec<String> = n.inputs.iter().map(|&j| dag[j].name.clone()).collect();
            input.extend(
                n.control_inputs
                    .iter()
                    .map(|&j| format!("^{}", dag[j].name)),
            );
            let mut attr = std::collections::HashMap::new();
            if let Some(info) = &n.output {
                attr.insert(
                    "dtype".to_string(),
                    AttrValue {
                        r#type: Some(dtype_proto(info.dtype)),
                        ..Default::default()
                    },
                );
                attr.insert(
                    "_output_shapes".to_string(),
                    AttrValue {
                        list: Some(AttrList {
                            shape: vec![shape_proto(&info.shape)],
                        }),
                        ..Default::default()
                    },
                );
            }
            let attrs = serde_json::to_value(&n.op)
                .ok()
                .and_then(|v| v.get("attrs").map(|a| a.to_string()))
                .unwrap_or_default();
            if !attrs.is_empty() && attrs != "null" {
                let cut: String = attrs.chars().take(200).collect();
                attr.insert(
                    "attrs".to_string(),
                    AttrValue {
                        s: Some(cut.into_bytes()),
                        ..Default::default()
                    },
                );
            }
            NodeDef {
                name: n.name.clone(),
                op: n.op.def().kind().to_string(),
                input,
                device: String::new(),
                attr,
            }
        })
        .collect();
    GraphDef {
        node,
        versions: Some(VersionDef { producer: 1 }),
    }
}
