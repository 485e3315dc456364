//! Zoo specs (`model.yaml`, `dataloader.yaml`): the reader must never panic, and a spec it
//! accepts must survive a round trip — written back as YAML by our writer and read again, it
//! is the same spec.

use std::path::Path;

use biobatch_zoo::spec::{dataloader_from_str, model_from_str};

use super::ensure;
use crate::{Case, Target, Verdict};

pub(super) const TARGET: Target = Target {
    name: "spec",
    about: "zoo model.yaml / dataloader.yaml parsing, against a write-and-read-back round trip",
    seeds,
    check,
};

fn seeds() -> Vec<Case> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut out = Vec::new();
    for rel in [
        "tests/data/zoo/onnx-int64/model.yaml",
        "tests/data/zoo/kipoi/MMSplice/mtsplice/model.yaml",
        "tests/data/zoo/kipoi/MMSplice/mtsplice/dataloader.yaml",
        "tests/data/zoo/kipoi/DeepMEL/DeepMEL/model.yaml",
        "tests/data/zoo/kipoi/DeepMEL/DeepMEL/dataloader.yaml",
        "tests/data/zoo/kipoi/Basset/model.yaml",
        "tests/data/zoo/kipoi/DeepSEA/beluga/model.yaml",
        "tests/data/zoo/kipoi/KipoiSplice/4/dataloader.yaml",
        "tests/data/zoo/kipoi/labranchor/model.yaml",
        "tests/data/zoo/kipoi/labranchor/dataloader.yaml",
        "examples/zoo/peak-cnn/model.yaml",
        "examples/zoo/peak-cnn/dataloader.yaml",
    ] {
        let bytes = std::fs::read(root.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
        let name = if rel.ends_with("dataloader.yaml") {
            "dataloader.yaml"
        } else {
            "model.yaml"
        };
        out.push(Case::new([(name, bytes)]));
    }
    out
}

fn check(input: &Path, _work: &Path) -> Result<Verdict, String> {
    let (name, is_model) = if input.join("model.yaml").exists() {
        ("model.yaml", true)
    } else {
        ("dataloader.yaml", false)
    };
    let path = input.join(name);
    let Ok(bytes) = std::fs::read(&path) else {
        return Ok(Verdict::Refused);
    };
    let Ok(text) = String::from_utf8(bytes) else {
        return Ok(Verdict::Refused);
    };
    if is_model {
        let Ok(mut spec) = model_from_str(&text, &path) else {
            return Ok(Verdict::Refused);
        };
        let yaml = spec
            .to_yaml()
            .map_err(|e| format!("accepted spec not writable: {e}"))?;
        let mut again =
            model_from_str(&yaml, &path).map_err(|e| format!("own YAML refused: {e}\n{yaml}"))?;
        // Warnings describe the reading (a labels file not found), not the spec.
        (spec.warnings, again.warnings) = (Vec::new(), Vec::new());
        ensure(again == spec, || {
            format!("round trip changes the spec: \n{spec:?}\n{again:?}")
        })?;
    } else {
        let Ok(mut spec) = dataloader_from_str(&text, &path) else {
            return Ok(Verdict::Refused);
        };
        let yaml = spec
            .to_yaml()
            .map_err(|e| format!("accepted spec not writable: {e}"))?;
        let mut again = dataloader_from_str(&yaml, &path)
            .map_err(|e| format!("own YAML refused: {e}\n{yaml}"))?;
        (spec.warnings, again.warnings) = (Vec::new(), Vec::new());
        ensure(again == spec, || {
            format!("round trip changes the spec: \n{spec:?}\n{again:?}")
        })?;
    }
    Ok(Verdict::Accepted)
}
