//! A BPNet exported by `biobatch train bpnet` (`args: {weights, config}`): `config` is the
//! training's `config.json` (only its `model` section is read) or that section alone;
//! `weights` is burnpack (`.bpk`) or SafeTensors in bpnet-lite's names (`.safetensors`), so
//! a bpnet-lite model's `state_dict` runs here too. It predicts through
//! [`biobatch_bpnet::Predictor`], on any device the build has.

use std::path::Path;

use biobatch_bpnet::{DeviceChoice, Inputs, Predictor};
use biobatch_core::{Batch, Node};

use super::{Staged, ZooModel, arg_file};
use crate::Result;
use crate::source::ResolvedModel;

pub(super) struct BpnetModel {
    predictor: Predictor,
}

impl BpnetModel {
    pub(super) fn load(m: &ResolvedModel, cache: Option<&Path>, device: &str) -> Result<Self> {
        // The device first: one this build lacks fails before any file is read.
        let device: DeviceChoice = device.parse()?;
        device.device()?;
        let config = arg_file(m, "config", cache)?;
        let weights = arg_file(m, "weights", cache)?;
        Ok(BpnetModel {
            predictor: Predictor::load_files(&config, &weights, device)?,
        })
    }
}

impl ZooModel for BpnetModel {
    fn predict_on_batch(&self, batch: &Batch) -> Result<Node> {
        Ok(self.predictor.predict_on_batch(batch)?)
    }

    fn stage(&self, batch: &Batch) -> Result<Option<Staged>> {
        Ok(Some(Box::new(self.predictor.stage(batch)?)))
    }

    fn predict_staged(&self, batch: &Batch, staged: Option<Staged>) -> Result<Node> {
        match staged.map(|s| s.downcast::<Inputs>()) {
            Some(Ok(inputs)) => Ok(self.predictor.predict_inputs(*inputs)?),
            _ => self.predict_on_batch(batch),
        }
    }
}
