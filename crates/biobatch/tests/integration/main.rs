//! The command line's integration tests, one module per file, in one test
//! binary: each binary links the whole dependency graph, so one binary instead of one per
//! file saves link time and disk.

mod cli;
mod cli_datasets;
mod cli_remote;
mod cli_zoo;
mod common;
