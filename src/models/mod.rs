//! Ready-made models built from the library's layers, shared by examples and tests.

pub mod tagger;
