//! The BPNet model's integration tests, one module per file, in one test
//! binary: each binary links the whole dependency graph, so one binary instead of one per
//! file saves link time and disk.

mod bpnet;
mod bpnet_lite;
mod precision;
