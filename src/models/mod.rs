//! Ready-made models shared by the examples, benchmarks and tests.

pub mod embedding_mlp;
pub mod face_landmarks;
pub mod tagger;
pub mod toy;
