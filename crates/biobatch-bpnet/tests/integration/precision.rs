//! Mixed precision (`f16` / `bf16` compute, `f32` master weights): on the same batches and
//! initial weights it learns as `f32` does, within the tolerances `docs/training.md` states;
//! the saved model is `f32`; a loss-scaled run resumes exactly.

use biobatch_bpnet::{DeviceChoice, History, Precision, Predictor, StopReason, train};

use crate::bpnet::{loader_of, tiny};

/// Tolerances against `f32` on the same batches and initial weights (stated in
/// `docs/training.md`): every epoch's validation loss within 5% relative; the last epoch's
/// validation loss and profile MNLL within 2%, count MSE within 10%, profile and count Pearson
/// within 0.05. (Earlier epochs' count figures are left out: an epoch-old model's count
/// Pearson on a dozen validation peaks swings by tenths between any two nearby models.)
fn assert_close(f32_run: &History, mixed: &History, what: Precision) {
    assert_eq!(f32_run.epochs.len(), mixed.epochs.len());
    for (x, y) in f32_run.epochs.iter().zip(&mixed.epochs) {
        let (p, q) = (x.validation.loss, y.validation.loss);
        assert!(
            (p - q).abs() <= 0.05 * p.abs(),
            "epoch {}: validation loss {p} in f32, {q} in {what}",
            x.epoch
        );
    }
    let (a, b) = (
        &f32_run.epochs.last().unwrap().validation,
        &mixed.epochs.last().unwrap().validation,
    );
    for (name, p, q, rel) in [
        ("validation loss", a.loss, b.loss, 0.02),
        ("profile MNLL", a.profile_mnll, b.profile_mnll, 0.02),
        ("count MSE", a.count_mse, b.count_mse, 0.10),
    ] {
        assert!(
            (p - q).abs() <= rel * p.abs(),
            "last epoch: {name} {p} in f32, {q} in {what}"
        );
    }
    for (name, p, q) in [
        ("profile Pearson", a.profile_pearson, b.profile_pearson),
        ("count Pearson", a.count_pearson, b.count_pearson),
    ] {
        assert!(
            p.is_finite() && (p - q).abs() <= 0.05,
            "last epoch: {name} {p} in f32, {q} in {what}"
        );
    }
}

#[test]
fn mixed_precision_learns_as_f32_does_within_the_stated_tolerance() {
    let dir = tempfile::tempdir().unwrap();
    let mut runs = Vec::new();
    for p in [Precision::F32, Precision::F16, Precision::Bf16] {
        let mut c = tiny(&dir.path().join(p.to_string()));
        c.epochs = 3;
        c.precision = p;
        let h = train::train(&c, false, &mut ()).unwrap();
        assert_eq!(h.epochs.len(), 3, "{p}");
        runs.push((c, h));
    }
    let (_, full) = &runs[0];
    assert!(full.loss_scale.is_none(), "f32 scales no loss");
    for (c, h) in &runs[1..] {
        assert_eq!(h.batches, full.batches, "{}: the same batches", c.precision);
        assert_close(full, h, c.precision);
        // It learns: the last epoch's losses are below the first's.
        let (first, last) = (&h.epochs[0], h.epochs.last().unwrap());
        assert!(
            last.train_loss < first.train_loss,
            "{}: {first:?} → {last:?}",
            c.precision
        );
        // The model folder holds f32 weights a plain f32 predictor loads and runs.
        let p = Predictor::load(&c.model_dir(), DeviceChoice::Cpu).unwrap();
        let loader = loader_of(&c.peaks.for_prediction());
        let b = loader.epoch(0).unwrap().next().unwrap().unwrap();
        let out = p.predict_on_batch(&b).unwrap();
        let counts = out.get("counts").and_then(|n| n.as_array()).unwrap();
        assert!(
            counts
                .as_slice::<f32>()
                .unwrap()
                .iter()
                .all(|v| v.is_finite())
        );
    }
    // The f16 run scaled its loss; bf16 has f32's range and does not.
    let f16 = &runs[1].1;
    let ls = f16.loss_scale.expect("an f16 run records its loss scale");
    assert!(
        ls.scale >= 1.0 && ls.skipped_steps < f16.batches.len() as u64 / 2,
        "{ls:?}"
    );
    assert!(runs[2].1.loss_scale.is_none());
    // The f32 and mixed runs differ (the compute type is really used).
    assert_ne!(
        full.epochs[2].validation.loss, f16.epochs[2].validation.loss,
        "f16 gave f32's figures bit for bit"
    );
}

#[test]
fn an_f16_run_interrupted_and_resumed_is_the_unbroken_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = tiny(&dir.path().join("full"));
    c.precision = Precision::F16;
    let full = train::train(&c, false, &mut ()).unwrap();
    let per_epoch = full.batches.iter().filter(|b| b.0 == 0).count();
    let mut b = c.clone();
    b.out = dir.path().join("cut");
    b.stop_after_batches = Some(per_epoch as u64 + 3);
    let cut = train::train(&b, false, &mut ()).unwrap();
    assert_eq!(cut.stopped, Some(StopReason::Interrupted));
    b.stop_after_batches = None;
    let resumed = train::train(&b, true, &mut ()).unwrap();
    assert_eq!(resumed.batches, full.batches);
    assert_eq!(
        resumed.loss_scale, full.loss_scale,
        "the loss scale resumes"
    );
    let (x, y) = (full.epochs.last().unwrap(), resumed.epochs.last().unwrap());
    assert_eq!(x.validation, y.validation);
    assert_eq!(x.train_loss, y.train_loss);
}

#[test]
fn precision_is_read_from_settings_and_a_bad_one_is_refused() {
    let c: biobatch_bpnet::TrainConfig = serde_json::from_str(r#"{"precision": "bf16"}"#).unwrap();
    assert_eq!(c.precision, Precision::Bf16);
    let e = serde_json::from_str::<biobatch_bpnet::TrainConfig>(r#"{"precision": "f8"}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown precision `f8`"), "{e}");
}

/// On a GPU (`$BIOBATCH_TEST_DEVICE`, `wgpu` by default; Mesa's software Vulkan in the opt-in
/// `cargo xtask test --gpu-builds`): where the device computes in `f16`, an `f16` run there
/// is within the stated tolerance of `f32` on the CPU; where it does not, asking for it is an
/// error naming the device and the type, before any data is read.
#[cfg(feature = "wgpu")]
#[test]
fn f16_on_a_gpu_is_within_tolerance_of_f32_or_refused_by_name() {
    use burn::tensor::FloatDType;
    let choice: DeviceChoice = std::env::var("BIOBATCH_TEST_DEVICE")
        .map(|d| d.parse().expect("BIOBATCH_TEST_DEVICE"))
        .unwrap_or(DeviceChoice::Wgpu(None));
    let device = match choice.device() {
        Ok(d) => d,
        Err(e) if std::env::var_os("BIOBATCH_REQUIRE_GPU").is_some() => {
            panic!("BIOBATCH_REQUIRE_GPU is set but {choice} does not open: {e}")
        }
        Err(e) => return eprintln!("skipped: {choice} does not open here: {e}"),
    };
    let dir = tempfile::tempdir().unwrap();
    let mut c = tiny(&dir.path().join("gpu"));
    c.device = choice;
    c.precision = Precision::F16;
    if !device.supports_dtype(FloatDType::F16) {
        c.peaks.fasta = dir.path().join("never-read.fa");
        let e = train::train(&c, false, &mut ()).unwrap_err().to_string();
        assert!(
            e.contains(&format!("`{choice}` cannot compute in f16")),
            "{e}"
        );
        return eprintln!("{choice} has no f16 arithmetic: refused as it should be");
    }
    let on_gpu = train::train(&c, false, &mut ()).unwrap();
    let cpu = train::train(&tiny(&dir.path().join("cpu")), false, &mut ()).unwrap();
    assert_eq!(on_gpu.batches, cpu.batches);
    assert_close(&cpu, &on_gpu, Precision::F16);
}
