//! bpnet-lite parity: state_dicts saved by bpnet-lite (PyTorch) as SafeTensors load into our
//! BPNet, which then gives the outputs bpnet-lite's own forward gave on the same inputs
//! (tests/data/bpnet_lite, written by tests/data/scripts/make_bpnet_lite_expected.py).

use std::path::PathBuf;

use biobatch_bpnet::{BpnetConfig, weights};
use burn::prelude::*;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/bpnet_lite")
        .join(name)
}

fn floats(v: &serde_json::Value, key: &str) -> Vec<f32> {
    v[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key} is not a list"))
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn close(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let mut worst = 0f32;
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let d = (g - w).abs();
        assert!(
            d <= 1e-4 * (1.0 + w.abs()),
            "{what}[{i}]: {g} vs bpnet-lite {w}"
        );
        worst = worst.max(d);
    }
    // The outputs are not trivially equal (all zeros, say): they vary across positions.
    let spread = want.iter().cloned().fold(f32::MIN, f32::max)
        - want.iter().cloned().fold(f32::MAX, f32::min);
    assert!(spread > 1e-3, "{what}: a constant output proves nothing");
}

fn case(name: &str) {
    let e: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture(&format!("{name}.json"))).unwrap()).unwrap();
    let config: BpnetConfig = serde_json::from_value(e["model"].clone()).unwrap();
    let model = weights::load(&config, &fixture(&format!("{name}.safetensors"))).unwrap();
    // What we write is what we read: the re-exported file gives the same outputs again.
    let dir = tempfile::tempdir().unwrap();
    let again = dir.path().join("again.safetensors");
    weights::save_safetensors(&model, &again).unwrap();
    let model = weights::load(&config, &again).unwrap();
    if let Ok(out) = std::env::var("BPNET_LITE_EXPORT") {
        let out = std::path::Path::new(&out).join(name);
        std::fs::create_dir_all(&out).unwrap();
        std::fs::copy(&again, out.join("model.safetensors")).unwrap();
        std::fs::write(out.join("config.json"), e["model"].to_string()).unwrap();
    }
    let d = Device::flex();
    let seq = floats(&e, "seq");
    let n = seq.len() / (4 * config.in_window);
    let x = Tensor::<3>::from_data(TensorData::new(seq, [n, 4, config.in_window]), &d);
    let ctl = (config.control_tracks > 0).then(|| {
        Tensor::<3>::from_data(
            TensorData::new(
                floats(&e, "controls"),
                [n, config.control_tracks, config.in_window],
            ),
            &d,
        )
    });
    let (profile, counts) = model.forward(x, ctl);
    let shape: Vec<usize> = e["profile_shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect();
    assert_eq!(profile.dims().to_vec(), shape);
    assert_eq!(counts.dims(), [n, 1]);
    let profile: Vec<f32> = profile.into_data().try_to_vec().unwrap();
    let counts: Vec<f32> = counts.into_data().try_to_vec().unwrap();
    close(
        &format!("{name} profile"),
        &profile,
        &floats(&e, "profile_logits"),
    );
    close(
        &format!("{name} counts"),
        &counts,
        &floats(&e, "log_counts"),
    );
}

#[test]
fn bpnet_lite_weights_with_control_tracks_give_bpnet_lites_outputs() {
    case("with_controls");
}

#[test]
fn bpnet_lite_weights_without_control_tracks_give_bpnet_lites_outputs() {
    case("no_controls");
}

#[test]
fn bpnet_lite_weights_for_other_settings_are_refused() {
    let e: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture("with_controls.json")).unwrap()).unwrap();
    let config: BpnetConfig = serde_json::from_value(e["model"].clone()).unwrap();
    // The file of the model without controls: fewer layers, fewer filters, no control input.
    let err = weights::load(&config, &fixture("no_controls.safetensors"))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("no_controls.safetensors"), "{err}");
    assert!(err.contains("the weights do not fit"), "{err}");
    assert!(err.contains("`rconvs.2.weight`"), "{err}");
    assert!(err.contains("`fconv.weight` has shape [2, 6, 75]"), "{err}");
    let missing = weights::load(&config, &fixture("absent.safetensors"))
        .err()
        .unwrap()
        .to_string();
    assert!(missing.contains("no such weights file"), "{missing}");
}
