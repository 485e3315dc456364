//! The readers' and store's integration tests, one module per file, in one test
//! binary: each binary links the whole dependency graph, so one binary instead of one per
//! file saves link time and disk.

mod anndata_zarr;
mod bed;
mod bigwig;
mod burn;
mod damage;
mod fasta;
mod h5ad;
mod npy;
mod remote;
mod soma;
