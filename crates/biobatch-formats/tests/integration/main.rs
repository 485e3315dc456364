//! The HDF5 and Zarr readers' integration tests, one module per file, in one test
//! binary: each binary links the whole dependency graph, so one binary instead of one per
//! file saves link time and disk.

mod hdf5;
mod zarr;
