//! BPNet weight files: burn's own `.bpk` (burnpack, what checkpoints use) and SafeTensors
//! (`.safetensors`) in bpnet-lite's names and PyTorch's layout, so that weights move both
//! ways between `biobatch` and bpnet-lite / PyTorch.
//!
//! The SafeTensors names are those of bpnet-lite's `BPNet.state_dict()`:
//!
//! | bpnet-lite | here | shape (PyTorch layout) |
//! |---|---|---|
//! | `iconv.weight`, `iconv.bias` | first convolution | `[filters, 4, first_kernel]` |
//! | `rconvs.{i}.weight`, `.bias` | residual layer `i` (dilation `2^(i+1)`) | `[filters, filters, residual_kernel]` |
//! | `fconv.weight`, `fconv.bias` | profile head | `[tracks, filters + controls, profile_kernel]` |
//! | `linear.weight`, `linear.bias` | counts head | `[tasks, filters + (controls > 0)]` |
//!
//! A file written by `safetensors.torch.save_file(bpnet.state_dict(), path)` loads here, and
//! one written here loads with `bpnet.load_state_dict(safetensors.torch.load_file(path))`,
//! for a bpnet-lite model of the same settings (one task; kernels 21, 3 and 75; biases).

use std::path::Path;

use burn::prelude::*;
use burn::store::{
    ApplyError, BurnToPyTorchAdapter, ModuleSnapshot, PyTorchToBurnAdapter, SafetensorsStore,
};

use crate::model::{Bpnet, BpnetConfig};
use crate::{Error, Result};

/// bpnet-lite's names for the model's parts, and ours.
const NAMES: [(&str, &str); 4] = [
    ("iconv", "first"),
    ("rconvs", "residual"),
    ("fconv", "profile"),
    ("linear", "counts"),
];

/// Whether `path` names a SafeTensors file (by its extension).
pub fn is_safetensors(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "safetensors")
}

/// Builds the model of `config` and loads its weights from `path`: SafeTensors for a
/// `.safetensors` file, burnpack otherwise. Every tensor must be there with the shape the
/// settings give, and a SafeTensors file may hold nothing else.
pub fn load(config: &BpnetConfig, path: &Path) -> Result<Bpnet> {
    let model = config.init(&Device::flex());
    if !is_safetensors(path) {
        return model
            .try_load_file(path)
            .map_err(|e| Error::record(path, e));
    }
    if !path.is_file() {
        return Err(Error::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such weights file"),
        ));
    }
    let mut store = NAMES
        .iter()
        .fold(SafetensorsStore::from_file(path), |s, (lite, ours)| {
            // The pattern is a constant, valid regex: `with_key_remapping` cannot fail on it.
            s.with_key_remapping(format!(r"^{lite}\."), format!("{ours}."))
        })
        .with_from_adapter(PyTorchToBurnAdapter)
        // Missing, unused and mis-shaped tensors come back in the result, reported below in
        // bpnet-lite's names and PyTorch's layout.
        .allow_partial(true)
        .validate(false);
    let mut model = model;
    let result = model
        .load_from(&mut store)
        .map_err(|source| Error::SafeTensors {
            path: path.to_path_buf(),
            source,
        })?;
    let mut problems = Vec::new();
    for (name, _) in &result.missing {
        problems.push(format!("missing tensor `{}`", lite_name(name)));
    }
    for name in &result.unused {
        problems.push(format!(
            "tensor `{}` is not part of this model",
            lite_name(name)
        ));
    }
    for e in &result.errors {
        problems.push(describe(e));
    }
    if !problems.is_empty() {
        return Err(Error::WeightsMismatch {
            path: path.to_path_buf(),
            settings: format!(
                "n_filters {}, n_layers {}, kernels {}/{}/{}, output tracks {}, tasks {}, \
                 control tracks {}",
                config.n_filters,
                config.n_layers,
                config.first_kernel,
                config.residual_kernel,
                config.profile_kernel,
                config.output_tracks(),
                config.tasks.len(),
                config.control_tracks,
            ),
            problems: problems.join("; "),
        });
    }
    Ok(model)
}

/// Writes the model's weights to `path` as SafeTensors, in bpnet-lite's names and PyTorch's
/// layout (see the module docs), atomically.
pub fn save_safetensors(model: &Bpnet, path: &Path) -> Result<()> {
    // Built in memory (a BPNet is a few MB at most) and written like any other file, with
    // the usual permissions.
    let mut store = NAMES
        .iter()
        .fold(SafetensorsStore::from_bytes(None), |s, (lite, ours)| {
            // A constant, valid regex (see `load`).
            s.with_key_remapping(format!(r"^{ours}\."), format!("{lite}."))
        })
        .with_to_adapter(BurnToPyTorchAdapter)
        .metadata("format", "pt")
        .metadata("model", "bpnet-lite BPNet");
    let bad = |source| Error::SafeTensors {
        path: path.to_path_buf(),
        source,
    };
    model.save_into(&mut store).map_err(bad)?;
    let bytes = store.get_bytes().map_err(bad)?;
    Ok(biobatch_formats::fs::write_file(path, bytes)?)
}

/// One tensor that could not be applied, in bpnet-lite's names and PyTorch's layout.
fn describe(e: &ApplyError) -> String {
    match e {
        ApplyError::ShapeMismatch {
            path,
            expected,
            found,
        } => {
            let (mut want, mut got) = (expected.to_vec(), found.to_vec());
            // burn holds a linear weight as [in, out], PyTorch (and the file) as [out, in].
            if path.starts_with("counts.") && want.len() == 2 {
                want.reverse();
                got.reverse();
            }
            format!(
                "`{}` has shape {got:?}, the settings give {want:?}",
                lite_name(path)
            )
        }
        ApplyError::DTypeMismatch {
            path,
            expected,
            found,
        } => format!("`{}` is {found:?}, expected {expected:?}", lite_name(path)),
        ApplyError::AdapterError { path, message } | ApplyError::LoadError { path, message } => {
            format!("`{}`: {message}", lite_name(path))
        }
    }
}

/// A module path in bpnet-lite's names (for messages).
fn lite_name(ours: &str) -> String {
    NAMES
        .iter()
        .find_map(|(lite, o)| {
            ours.strip_prefix(o)
                .filter(|rest| rest.starts_with('.'))
                .map(|rest| format!("{lite}{rest}"))
        })
        .unwrap_or_else(|| ours.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> BpnetConfig {
        BpnetConfig {
            n_filters: 4,
            n_layers: 2,
            in_window: 120,
            out_window: 40,
            ..BpnetConfig::default()
        }
    }

    fn forward(m: &Bpnet, c: &BpnetConfig) -> (Vec<f32>, Vec<f32>) {
        let d = Device::flex();
        let x = Tensor::<3>::ones([2, 4, c.in_window], &d);
        let ctl = Tensor::<3>::ones([2, c.control_tracks, c.in_window], &d);
        let (p, n) = m.forward(x, Some(ctl));
        (
            p.into_data().try_to_vec::<f32>().unwrap_or_default(),
            n.into_data().try_to_vec::<f32>().unwrap_or_default(),
        )
    }

    #[test]
    fn safetensors_round_trip_gives_the_same_model() {
        let c = small();
        let m = c.init(&Device::flex());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.safetensors");
        save_safetensors(&m, &path).unwrap();
        let back = load(&c, &path).unwrap();
        let (a, b) = (forward(&m, &c), forward(&back, &c));
        assert!(!a.0.is_empty() && !a.1.is_empty());
        assert_eq!(a, b);
    }

    #[test]
    fn weights_of_other_settings_are_refused_with_the_tensor_named() {
        let c = small();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.safetensors");
        save_safetensors(&c.init(&Device::flex()), &path).unwrap();
        let more_layers = BpnetConfig {
            n_layers: 3,
            ..c.clone()
        };
        let e = load(&more_layers, &path).err().unwrap().to_string();
        assert!(e.contains("missing tensor `rconvs.2.weight`"), "{e}");
        let fewer_layers = BpnetConfig {
            n_layers: 1,
            ..c.clone()
        };
        let e = load(&fewer_layers, &path).err().unwrap().to_string();
        assert!(
            e.contains("`rconvs.1.weight` is not part of this model"),
            "{e}"
        );
        let wider = BpnetConfig { n_filters: 8, ..c };
        let e = load(&wider, &path).err().unwrap().to_string();
        assert!(e.contains("n_filters 8"), "{e}");
        assert!(
            e.contains("`iconv.weight` has shape [4, 4, 21], the settings give [8, 4, 21]"),
            "{e}"
        );
        // The linear weight in PyTorch's [out, in] layout, as the file has it.
        assert!(
            e.contains("`linear.weight` has shape [1, 5], the settings give [1, 9]"),
            "{e}"
        );
    }
}
