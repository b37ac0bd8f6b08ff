//! Small reference models shared by the examples, benchmarks and tests.

pub mod toy;
