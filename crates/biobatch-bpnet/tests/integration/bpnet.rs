//! BPNet end to end on the bundled example data with a tiny model: it learns, it resumes
//! exactly, and its predictions have the right shapes and ranges.

use std::path::{Path, PathBuf};

use biobatch_bpnet::{
    BpnetConfig, DeviceChoice, History, Predictor, StopReason, TrainConfig, train,
};
use biobatch_datasets::{LoaderSettings, PeakConfig, PeakDataset};
use biobatch_sampling::Partition;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/data/peaks")
        .join(name)
}

pub(crate) fn tiny(out: &Path) -> TrainConfig {
    TrainConfig {
        peaks: PeakConfig {
            peaks: vec![data("peaks.narrowPeak")],
            negatives: vec![data("negatives.bed")],
            fasta: data("genome.fa"),
            signals: vec![vec![data("signal.plus.bw"), data("signal.minus.bw")]],
            controls: vec![vec![data("control.plus.bw"), data("control.minus.bw")]],
            in_window: 96,
            out_window: 48,
            max_jitter: 4,
            negative_ratio: 0.25,
            summits: true,
            seed: Some(3),
            loader: LoaderSettings {
                batch_size: 16,
                num_workers: 1,
                ..Default::default()
            },
            ..Default::default()
        },
        model: BpnetConfig {
            n_filters: 8,
            n_layers: 2,
            first_kernel: 9,
            profile_kernel: 15,
            ..Default::default()
        },
        out: out.to_path_buf(),
        validation_chroms: vec!["chr3".into()],
        epochs: 2,
        learning_rate: 0.01,
        patience: 50,
        log_batches: true,
        init_seed: 1,
        ..Default::default()
    }
}

/// The loader of a peak dataset, one rank.
pub(crate) fn loader_of(c: &PeakConfig) -> biobatch_loader::Loader {
    PeakDataset::open(c)
        .unwrap()
        .into_loader(Partition::single())
        .unwrap()
}

#[test]
fn a_tiny_model_overfits_a_tiny_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = tiny(&dir.path().join("o"));
    // Eight peaks, centred, the same every epoch.
    let few = dir.path().join("eight.narrowPeak");
    let text = std::fs::read_to_string(data("peaks.narrowPeak")).unwrap();
    let chr1: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("chr1\t"))
        .take(8)
        .collect();
    let chr3: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("chr3\t"))
        .take(4)
        .collect();
    std::fs::write(&few, [chr1, chr3].concat().join("\n")).unwrap();
    c.peaks.peaks = vec![few];
    c.peaks.negatives.clear();
    c.peaks.negative_ratio = 0.0;
    c.peaks.max_jitter = 0;
    c.peaks.reverse_complement = false;
    c.peaks.outlier_filter = false;
    c.peaks.loader.batch_size = 8;
    c.learning_rate = 0.02;
    c.epochs = 60;
    let h = train::train(&c, false, &mut ()).unwrap();
    let (first, last) = (h.epochs[0].train_loss, h.epochs.last().unwrap().train_loss);
    assert!(
        last < 0.5 * first,
        "training loss {first} → {last}: not halved"
    );
}

#[test]
fn training_lowers_the_loss_and_resume_continues_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = tiny(&dir.path().join("a"));
    c.epochs = 3;
    let full = train::train(&c, false, &mut ()).unwrap();
    assert_eq!(full.stopped, Some(StopReason::Epochs));
    assert_eq!(full.epochs.len(), 3);
    let (first, last) = (&full.epochs[0], &full.epochs[2]);
    assert!(
        last.train_loss < first.train_loss && last.validation.loss < first.validation.loss,
        "{first:?} → {last:?}"
    );
    assert!(last.validation.count_pearson.is_finite());
    assert!(dir.path().join("a/model/model.bpk").exists());

    // Interrupted inside epoch 1, then resumed: the same batches in the same order, and the
    // same model at the end.
    let per_epoch = full.batches.iter().filter(|b| b.0 == 0).count();
    let stop = per_epoch + 5;
    let mut b = c.clone();
    b.out = dir.path().join("b");
    b.stop_after_batches = Some(stop as u64);
    let cut = train::train(&b, false, &mut ()).unwrap();
    assert_eq!(
        (cut.stopped, cut.batches.len()),
        (Some(StopReason::Interrupted), stop)
    );
    b.stop_after_batches = None;
    let resumed = train::train(&b, true, &mut ()).unwrap();
    assert_eq!(
        resumed.batches, full.batches,
        "the batches after resume are the uninterrupted run's"
    );
    let (x, y) = (full.epochs.last().unwrap(), resumed.epochs.last().unwrap());
    assert_eq!(
        x.validation, y.validation,
        "same model, same validation figures"
    );
    assert_eq!(x.train_loss, y.train_loss);
    assert_eq!(resumed.epochs.len(), 3);

    // Interrupted right after an epoch's last batch: the resumed run validates that epoch
    // first, then goes on.
    let mut e = c.clone();
    e.out = dir.path().join("e");
    e.stop_after_batches = Some(per_epoch as u64);
    train::train(&e, false, &mut ()).unwrap();
    e.stop_after_batches = None;
    let h = train::train(&e, true, &mut ()).unwrap();
    assert_eq!(
        h.epochs.iter().map(|r| r.epoch).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    assert_eq!(h.batches, full.batches);
    assert_eq!(h.epochs[2].validation, x.validation);
}

#[test]
fn predictions_have_the_windows_shapes_and_totals_of_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let c = tiny(&dir.path().join("m"));
    train::train(&c, false, &mut ()).unwrap();
    let p = Predictor::load(&c.model_dir(), DeviceChoice::Cpu).unwrap();
    let m = p.config();
    assert_eq!((m.in_window, m.out_window, m.control_tracks), (96, 48, 2));
    let mut pc = c.peaks.for_prediction();
    pc.loader.batch_size = 5;
    let loader = loader_of(&pc);
    let mut rows = 0;
    for b in loader.epoch(0).unwrap() {
        let b = b.unwrap();
        let n = b.batch_size().unwrap().unwrap();
        let out = p.predict_on_batch(&b).unwrap();
        let profile = out.get("profile").and_then(|n| n.as_array()).unwrap();
        let counts = out.get("counts").and_then(|n| n.as_array()).unwrap();
        assert_eq!(profile.shape(), [n, 2, 48]);
        assert_eq!(counts.shape(), [n, 1]);
        let (profile, counts) = (
            profile.as_slice::<f32>().unwrap(),
            counts.as_slice::<f32>().unwrap(),
        );
        for i in 0..n {
            // Each task's expected counts over its tracks and positions add up to its total.
            let total: f32 = profile[i * 96..(i + 1) * 96].iter().sum();
            assert!(counts[i] >= 0.0);
            assert!(
                (total - counts[i]).abs() <= 1e-3 * (1.0 + counts[i]),
                "{total} vs {}",
                counts[i]
            );
        }
        rows += n;
    }
    assert!(rows > 0);
    // A batch without the control tracks the model takes is refused, naming both counts.
    let mut no_controls = pc.clone();
    no_controls.controls.clear();
    let loader = loader_of(&no_controls);
    let b = loader.epoch(0).unwrap().next().unwrap().unwrap();
    let e = p.predict_on_batch(&b).unwrap_err().to_string();
    assert!(e.contains("takes 2 control tracks, 0 were given"), "{e}");
}

#[test]
fn the_model_folder_is_whole_and_ends_with_the_runs_history() {
    struct Seen(Vec<(std::path::PathBuf, u64)>, usize);
    impl biobatch_bpnet::Observer for Seen {
        fn model_staged(
            &mut self,
            staged: &Path,
            _: &TrainConfig,
        ) -> Result<(), biobatch_bpnet::BoxError> {
            // Staged, not yet in place: every file is there, under a temporary name.
            for f in biobatch_bpnet::checkpoint::MODEL_FILES {
                assert!(staged.join(f).is_file(), "{f}");
            }
            std::fs::write(staged.join("extra.txt"), b"added by the observer").unwrap();
            self.1 += 1;
            Ok(())
        }
        fn model_saved(&mut self, dir: &Path, epoch: u64) {
            self.0.push((dir.to_path_buf(), epoch));
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let mut c = tiny(&dir.path().join("run"));
    c.epochs = 3;
    let mut seen = Seen(Vec::new(), 0);
    let h = train::train(&c, false, &mut seen).unwrap();
    assert_eq!(seen.0.len(), seen.1);
    assert!(seen.0.iter().all(|(d, _)| *d == c.model_dir()));
    let (_, best) = h.best.unwrap();
    assert_eq!(seen.0.last().unwrap().1, best);
    let on_disk: History =
        serde_json::from_slice(&std::fs::read(c.model_dir().join("history.json")).unwrap())
            .unwrap();
    // The folder holds the whole run's history (floats equal to JSON's precision).
    assert_eq!(
        (on_disk.epochs.len(), on_disk.stopped, &on_disk.batches),
        (h.epochs.len(), h.stopped, &h.batches)
    );
    assert_eq!(on_disk.best.map(|b| b.1), h.best.map(|b| b.1));
    for (a, b) in on_disk.epochs.iter().zip(&h.epochs) {
        assert!((a.validation.loss - b.validation.loss).abs() <= 1e-9 * b.validation.loss.abs());
    }
    assert!(
        c.model_dir().join("extra.txt").is_file(),
        "kept when the history is replaced"
    );
    // Nothing but the run's own folders beside them: no temporaries, no old folders.
    let mut names: Vec<String> = std::fs::read_dir(&c.out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["checkpoint", "model"]);
}

#[test]
fn tensors_built_ahead_on_the_feed_thread_train_the_same_model() {
    let dir = tempfile::tempdir().unwrap();
    let mut runs = Vec::new();
    for (name, depth) in [("inline", 0), ("ahead", 3)] {
        let mut c = tiny(&dir.path().join(name));
        c.device_prefetch = depth;
        let h = train::train(&c, false, &mut ()).unwrap();
        for r in &h.epochs {
            assert!(r.seconds > 0.0 && r.wait_seconds <= r.seconds, "{r:?}");
            assert!(
                r.transfer_seconds > 0.0 && r.transfer_seconds < r.seconds,
                "{r:?}"
            );
            assert!((r.wait_share - r.wait_seconds / r.seconds).abs() < 1e-9);
        }
        let total: f64 = h.epochs.iter().map(|r| r.transfer_seconds).sum();
        assert!((h.transfer_seconds - total).abs() < 1e-9);
        runs.push(h);
    }
    let (inline, ahead) = (&runs[0], &runs[1]);
    assert!(!inline.batches.is_empty());
    assert_eq!(inline.batches, ahead.batches, "the same batches in order");
    for (x, y) in inline.epochs.iter().zip(&ahead.epochs) {
        assert_eq!(x.train_loss, y.train_loss, "epoch {}", x.epoch);
        assert_eq!(x.validation, y.validation, "epoch {}", x.epoch);
    }
    // The saved models predict bit-identically.
    let c = tiny(&dir.path().join("inline"));
    let load = |n: &str| Predictor::load(&dir.path().join(n).join("model"), DeviceChoice::Cpu);
    let (a, b) = (load("inline").unwrap(), load("ahead").unwrap());
    let loader = loader_of(&c.peaks.for_prediction());
    let batch = loader.epoch(0).unwrap().next().unwrap().unwrap();
    let (x, y) = (
        a.predict_on_batch(&batch).unwrap(),
        b.predict_on_batch(&batch).unwrap(),
    );
    assert!(x == y, "the two models predict differently");
    // A depth no channel should allocate is refused with the settings, before any data.
    let mut too_deep = tiny(&dir.path().join("deep"));
    too_deep.device_prefetch = 1 << 40;
    too_deep.peaks.fasta = dir.path().join("never-read.fa");
    let e = train::train(&too_deep, false, &mut ())
        .unwrap_err()
        .to_string();
    assert!(e.contains("device_prefetch is 1099511627776"), "{e}");
}

/// A GPU choice this machine can open, or `None` (the test is skipped, saying so, unless
/// `BIOBATCH_REQUIRE_GPU` is set: `cargo xtask test --gpu-builds` sets it).
#[cfg(feature = "wgpu")]
fn gpu_or_skip(choice: DeviceChoice) -> Option<DeviceChoice> {
    match choice.device() {
        Ok(_) => Some(choice),
        Err(e) if std::env::var_os("BIOBATCH_REQUIRE_GPU").is_some() => {
            panic!("BIOBATCH_REQUIRE_GPU is set but {choice} does not open: {e}")
        }
        Err(e) => {
            eprintln!("skipped: {choice} does not open here: {e}");
            None
        }
    }
}

/// The largest difference between two prediction nodes, relative to `1 + |cpu value|`.
#[cfg(feature = "wgpu")]
fn max_rel_diff(a: &biobatch_core::Node, b: &biobatch_core::Node) -> f64 {
    let mut worst = 0.0f64;
    for key in ["profile", "counts"] {
        let x = a.get(key).and_then(|n| n.as_array()).unwrap();
        let y = b.get(key).and_then(|n| n.as_array()).unwrap();
        assert_eq!(x.shape(), y.shape(), "{key}");
        for (p, q) in x
            .as_slice::<f32>()
            .unwrap()
            .iter()
            .zip(y.as_slice::<f32>().unwrap())
        {
            worst = worst.max((*p as f64 - *q as f64).abs() / (1.0 + (*p as f64).abs()));
        }
    }
    worst
}

/// On a GPU (`$BIOBATCH_TEST_DEVICE`, `wgpu` by default; Mesa's software Vulkan in the opt-in
/// `cargo xtask test --gpu-builds`): the same weights predict what the CPU predicts (within
/// 1e-3 relative), and two epochs trained there from the same initial weights reach the CPU's
/// losses within 2% (the arithmetic differs: reductions run in another order).
#[cfg(feature = "wgpu")]
#[test]
fn a_gpu_trains_and_predicts_within_tolerance_of_the_cpu() {
    let choice = std::env::var("BIOBATCH_TEST_DEVICE")
        .map(|d| d.parse().expect("BIOBATCH_TEST_DEVICE"))
        .unwrap_or(DeviceChoice::Wgpu(None));
    let Some(gpu) = gpu_or_skip(choice) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut histories = Vec::new();
    for (name, device) in [("cpu", DeviceChoice::Cpu), ("gpu", gpu)] {
        let mut c = tiny(&dir.path().join(name));
        c.device = device;
        let h = train::train(&c, false, &mut ()).unwrap();
        assert_eq!(h.epochs.len(), 2);
        histories.push((c, h));
    }
    let ((c, cpu), (_, on_gpu)) = (&histories[0], &histories[1]);
    assert_eq!(
        cpu.batches, on_gpu.batches,
        "the same batches on every device"
    );
    for (x, y) in cpu.epochs.iter().zip(&on_gpu.epochs) {
        for (what, p, q) in [
            ("train loss", x.train_loss, y.train_loss),
            ("validation loss", x.validation.loss, y.validation.loss),
        ] {
            assert!(
                (p - q).abs() <= 0.02 * p.abs(),
                "epoch {}: {what} {p} on the CPU, {q} on {gpu}",
                x.epoch
            );
        }
        assert!(y.transfer_seconds > 0.0 && y.examples_per_s > 0.0, "{y:?}");
    }
    // The CPU's model, predicted on both.
    let on_cpu = Predictor::load(&c.model_dir(), DeviceChoice::Cpu).unwrap();
    let on_dev = Predictor::load(&c.model_dir(), gpu).unwrap();
    let loader = loader_of(&c.peaks.for_prediction());
    let mut batches = 0;
    for b in loader.epoch(0).unwrap() {
        let b = b.unwrap();
        let d = max_rel_diff(
            &on_cpu.predict_on_batch(&b).unwrap(),
            &on_dev.predict_on_batch(&b).unwrap(),
        );
        assert!(d <= 1e-3, "batch {batches}: relative difference {d}");
        batches += 1;
    }
    assert!(batches > 0);
}

/// A GPU this machine lacks is an error when the device is opened, before any data is
/// read: never a panic at the first tensor, never the CPU instead.
#[cfg(feature = "wgpu")]
#[test]
fn a_gpu_number_this_machine_lacks_is_an_error_naming_it() {
    let e = DeviceChoice::Wgpu(Some(99))
        .device()
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot open device `wgpu:99`"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let mut c = tiny(&dir.path().join("x"));
    c.device = DeviceChoice::Wgpu(Some(99));
    c.peaks.fasta = dir.path().join("never-read.fa");
    let e = train::train(&c, false, &mut ()).unwrap_err().to_string();
    assert!(e.contains("wgpu:99"), "{e}");
}
