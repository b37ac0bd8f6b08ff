//! Ready-made models shared by the examples, benchmarks and tests.

pub mod tagger;
pub mod toy;
