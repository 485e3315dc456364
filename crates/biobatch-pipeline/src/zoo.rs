//! A Kipoi-like model zoo: `model.yaml` / `dataloader.yaml` specs read as Kipoi reads them,
//! model sources and groups, remote files checked against their MD5, native dataloaders
//! (kipoiseq's `SeqIntervalDl` and `StringSeqIntervalDl`, the biobatch datasets), models
//! (BPNet in burn, ONNX through tract), and prediction to Parquet or TSV. See `docs/zoo.md`.

pub mod args;
pub mod dataloaders;
pub mod kipoiseq;
pub mod models;
pub mod output;
pub mod predict;
pub mod remote;
pub mod source;
pub mod spec;
