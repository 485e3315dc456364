//! What a run keeps on disk, every file and folder written atomically:
//! - `OUT/checkpoint/`: `model.bpk`, `optim.bpk` and `state.json` (the loader's cursor, the
//!   history so far, the sums of the epoch in progress), replaced whole at each checkpoint;
//! - `OUT/model/`: the best model — `model.bpk`, the same weights as `model.safetensors` in
//!   bpnet-lite's names, `config.json` (the run's settings with the model's) and
//!   `history.json` — replaced whole whenever it changes, so a reader (or a process killed at
//!   any moment) finds a complete folder or the previous one, never a mix.

use std::path::Path;

use biobatch_formats::fs::{AtomicDir, write_file};
use burn::optim::ModuleOptimizer;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::config::{History, TrainConfig};
use crate::model::Bpnet;
use crate::{Error, Result};

/// The files of a model folder.
pub const MODEL_FILES: [&str; 4] = [
    "model.bpk",
    "model.safetensors",
    "config.json",
    "history.json",
];

/// The resumable state of a run (`checkpoint/state.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct State {
    /// Cursor after the last batch trained on.
    pub cursor: String,
    /// Batches trained on so far.
    pub batches: u64,
    pub history: History,
    pub epochs_since_best: u64,
    /// Sums of the epoch in progress: loss, batches, examples.
    pub epoch_loss: f64,
    pub epoch_batches: usize,
    pub epoch_examples: usize,
}

pub(crate) fn write_json(path: &Path, v: &impl Serialize) -> Result<()> {
    let text = serde_json::to_vec_pretty(v).map_err(|e| Error::json(path, e))?;
    Ok(write_file(path, text)?)
}

pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_slice(&text).map_err(|e| Error::json(path, e))
}

fn save_weights(model: &Bpnet, path: &Path) -> Result<()> {
    model
        .clone()
        .save_file(path)
        .map_err(|e| Error::record(path, e))
}

/// Saves a checkpoint (model, optimizer, state) into `dir`, replacing it whole.
pub(crate) fn save(
    dir: &Path,
    model: &Bpnet,
    optim: &ModuleOptimizer,
    state: &State,
) -> Result<()> {
    let staged = AtomicDir::create(dir)?;
    let d = staged.path();
    save_weights(model, &d.join("model.bpk"))?;
    let p = d.join("optim.bpk");
    optim.save(&p).map_err(|e| Error::record(&p, e))?;
    write_json(&d.join("state.json"), state)?;
    staged.commit()?;
    Ok(())
}

/// Loads a checkpoint into `model` and `optim`; returns its state.
pub(crate) fn load(
    dir: &Path,
    model: Bpnet,
    optim: ModuleOptimizer,
) -> Result<(Bpnet, ModuleOptimizer, State)> {
    let state: State = read_json(&dir.join("state.json"))?;
    let p = dir.join("model.bpk");
    let model = model.try_load_file(&p).map_err(|e| Error::record(&p, e))?;
    let p = dir.join("optim.bpk");
    let optim = optim.load(&p).map_err(|e| Error::record(&p, e))?;
    Ok((model, optim, state))
}

/// Writes the model folder `dir` whole: the weights (both formats), the settings and the
/// history, then `extra` adds what it will (the zoo's description) before the folder is
/// renamed into place.
pub(crate) fn save_model(
    dir: &Path,
    c: &TrainConfig,
    model: &Bpnet,
    history: &History,
    extra: &mut dyn FnMut(&Path) -> Result<()>,
) -> Result<()> {
    let staged = AtomicDir::create(dir)?;
    let d = staged.path();
    save_weights(model, &d.join("model.bpk"))?;
    crate::weights::save_safetensors(model, &d.join("model.safetensors"))?;
    write_json(&d.join("config.json"), c)?;
    write_json(&d.join("history.json"), history)?;
    extra(d)?;
    staged.commit()?;
    Ok(())
}

/// Replaces the history of the model folder `dir`, the folder whole: its files are copied
/// into a new folder with the new `history.json`, which is renamed over the old one.
pub(crate) fn replace_history(dir: &Path, history: &History) -> Result<()> {
    let staged = AtomicDir::create(dir)?;
    biobatch_formats::fs::copy_contents(dir, staged.path())?;
    write_json(&staged.path().join("history.json"), history)?;
    staged.commit()?;
    Ok(())
}
