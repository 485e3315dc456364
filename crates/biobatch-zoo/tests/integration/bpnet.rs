//! A BPNet trained by biobatch-bpnet, as a zoo model: its folder is a zoo model at every
//! moment (also when training is killed right after the folder is renamed into place), runs
//! through the zoo's pipeline with the predictor's own predictions (burnpack and SafeTensors
//! weights alike), writes Parquet, TSV and bigWig, and `zoo test` checks its expected
//! predictions.

use std::path::{Path, PathBuf};

use biobatch_bpnet::{BpnetConfig, DeviceChoice, History, Observer, Predictor, TrainConfig, train};
use biobatch_datasets::{LoaderSettings, PeakConfig, PeakDataset};
use biobatch_sampling::Partition;
use biobatch_zoo::output::{Table, Values, collect, read_table};
use biobatch_zoo::package::{Describe, PredictInputs, add_expected, prediction_args};
use biobatch_zoo::run::{RunOptions, predict_to_file, prepare, run, test};
use biobatch_zoo::source::resolve_dir;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/data/peaks")
        .join(name)
}

fn tiny(out: &Path) -> TrainConfig {
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
        epochs: 1,
        learning_rate: 0.01,
        patience: 50,
        init_seed: 1,
        ..Default::default()
    }
}

/// Trains as `biobatch train bpnet` does: described at every save, expected predictions at
/// the end.
fn train_packaged(c: &TrainConfig) -> History {
    let h = train::train(c, false, &mut Describe(&mut ())).unwrap();
    add_expected(&c.model_dir(), &RunOptions::with_batches(16, 0)).unwrap();
    h
}

fn few_peaks(dir: &Path, skip: usize, take: usize) -> PathBuf {
    let peaks = dir.join("few.narrowPeak");
    let text = std::fs::read_to_string(data("peaks.narrowPeak")).unwrap();
    std::fs::write(
        &peaks,
        text.lines()
            .skip(skip)
            .take(take)
            .collect::<Vec<_>>()
            .join("\n"),
    )
    .unwrap();
    peaks
}

/// The predictor's own predictions on `peaks` (profiles `[n, 2, 48]`, counts `[n]`).
fn direct(c: &TrainConfig, peaks: &Path) -> (Vec<f32>, Vec<f32>) {
    let p = Predictor::load(&c.model_dir(), DeviceChoice::Cpu).unwrap();
    let mut pc = c.peaks.for_prediction();
    pc.peaks = vec![peaks.to_path_buf()];
    let loader = PeakDataset::open(&pc)
        .unwrap()
        .into_loader(Partition::single())
        .unwrap();
    let (mut profile, mut counts) = (Vec::new(), Vec::new());
    for b in loader.epoch(0).unwrap() {
        let out = p.predict_on_batch(&b.unwrap()).unwrap();
        let get = |k: &str| out.get(k).and_then(|n| n.as_array()).unwrap();
        profile.extend_from_slice(get("profile").as_slice::<f32>().unwrap());
        counts.extend_from_slice(get("counts").as_slice::<f32>().unwrap());
    }
    (profile, counts)
}

fn num(t: &Table, k: &str) -> Vec<f64> {
    match &t[k] {
        Values::Num(v) => v.clone(),
        Values::Text(_) => panic!("{k} is text"),
    }
}

#[test]
fn a_trained_model_runs_in_the_zoo_with_the_predictors_predictions() {
    let dir = tempfile::tempdir().unwrap();
    let c = tiny(&dir.path().join("m"));
    train_packaged(&c);
    let peaks = few_peaks(dir.path(), 20, 9);
    let (want_profile, want_counts) = direct(&c, &peaks);
    assert_eq!((want_profile.len(), want_counts.len()), (9 * 96, 9));

    // The exported model.yaml + dataloader.yaml, through the zoo's own loader and writer;
    // then the same with the SafeTensors copy of the weights (bpnet-lite's names).
    let mdir = c.model_dir();
    let args = prediction_args(
        &mdir,
        &PredictInputs {
            peaks: vec![peaks.clone()],
            ..Default::default()
        },
    )
    .unwrap();
    let yaml = std::fs::read_to_string(mdir.join("model.yaml")).unwrap();
    assert!(yaml.contains("weights: model.bpk"), "{yaml}");
    for weights in ["model.bpk", "model.safetensors"] {
        std::fs::write(
            mdir.join("model.yaml"),
            yaml.replace("weights: model.bpk", &format!("weights: {weights}")),
        )
        .unwrap();
        let m = resolve_dir(&mdir).unwrap();
        assert_eq!(m.model.kind, "biobatch.bpnet");
        let (model, dl) = prepare(&m, &args, false, None, "cpu").unwrap();
        let mut t = Table::new();
        let r = run(
            &m,
            model.as_ref(),
            &dl,
            &RunOptions::with_batches(4, 2),
            &mut |meta, p| collect(&mut t, meta, p),
        )
        .unwrap();
        assert_eq!(r.rows, 9);
        // Inputs staged on the feed thread or between predictions: the same predictions.
        let mut inline = Table::new();
        let opts = RunOptions {
            device_prefetch: 0,
            ..RunOptions::with_batches(4, 2)
        };
        run(&m, model.as_ref(), &dl, &opts, &mut |meta, p| {
            collect(&mut inline, meta, p)
        })
        .unwrap();
        for k in ["preds/counts/0", "preds/profile/0/0", "preds/profile/1/47"] {
            assert_eq!(num(&t, k), num(&inline, k), "{weights}: {k}");
        }
        for i in 0..9 {
            let c = want_counts[i] as f64;
            let got = num(&t, "preds/counts/0")[i];
            assert!((got - c).abs() <= 1e-4 * (1.0 + c), "{weights}: row {i}");
            for track in 0..2 {
                for j in 0..48 {
                    let v = want_profile[(i * 2 + track) * 48 + j] as f64;
                    let got = num(&t, &format!("preds/profile/{track}/{j}"))[i];
                    assert!(
                        (got - v).abs() <= 1e-4 * (1.0 + v.abs()),
                        "{weights}: row {i} track {track} pos {j}"
                    );
                }
            }
        }
    }
    std::fs::write(mdir.join("model.yaml"), &yaml).unwrap();
    let m = resolve_dir(&mdir).unwrap();
    // `zoo test` runs it on its example loci (held-out peaks kept in the folder) and
    // compares with the predictions written at the end of training.
    let loci = std::fs::read_to_string(mdir.join("example/loci.bed")).unwrap();
    assert!(!loci.is_empty() && loci.lines().count() <= 64);
    assert!(
        loci.lines().all(|l| l.starts_with("chr3\t")),
        "validation chromosome only"
    );
    let r = test(&m, &RunOptions::default(), None).unwrap();
    assert_eq!(r.run.rows as usize, loci.lines().count());
    assert!(r.skipped.is_none(), "{:?}", r.skipped);
    // Per locus: the counts, 2 × 48 profile values and the metadata columns.
    assert!(r.compared >= r.run.rows as usize * 97, "{}", r.compared);
    // Other weights in the same folder predict differently, and the test says so.
    let mut c2 = tiny(&dir.path().join("other"));
    c2.init_seed = c.init_seed + 1;
    train::train(&c2, false, &mut ()).unwrap();
    for w in ["model.bpk", "model.safetensors"] {
        std::fs::copy(c2.model_dir().join(w), mdir.join(w)).unwrap();
    }
    let e = test(&resolve_dir(&mdir).unwrap(), &RunOptions::default(), None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("predictions differ") && e.contains("preds/"),
        "{e}"
    );
}

#[test]
fn predictions_go_to_parquet_tsv_and_bigwig_tracks() {
    let dir = tempfile::tempdir().unwrap();
    let c = tiny(&dir.path().join("m"));
    train_packaged(&c);
    let peaks = few_peaks(dir.path(), 0, 5);
    let (want_profile, _) = direct(&c, &peaks);
    let m = resolve_dir(&c.model_dir()).unwrap();
    let args = prediction_args(
        &c.model_dir(),
        &PredictInputs {
            peaks: vec![peaks],
            ..Default::default()
        },
    )
    .unwrap();
    let opts = RunOptions::with_batches(2, 1);
    for name in ["p.parquet", "p.tsv"] {
        let out = dir.path().join(name);
        let r = predict_to_file(&m, &args, &out, &opts, None).unwrap();
        assert_eq!((r.rows, r.files.clone()), (5, vec![out.clone()]));
        let t = read_table(&out).unwrap();
        // Kipoi's flat layout: the window, the counts, every profile value.
        for k in [
            "metadata/ranges/chr",
            "metadata/ranges/start",
            "preds/counts/0",
        ] {
            assert!(t.contains_key(k), "{name}: {k}");
        }
        assert_eq!(num(&t, "preds/profile/1/47").len(), 5);
    }
    let out = dir.path().join("p.bw");
    let r = predict_to_file(&m, &args, &out, &opts, None).unwrap();
    assert_eq!(
        r.files,
        [dir.path().join("p.0.bw"), dir.path().join("p.1.bw")]
    );
    // Where the first window overlaps no other, the track holds exactly its prediction.
    let t = {
        let mut t = Table::new();
        let (model, dl) = prepare(&m, &args, false, None, "cpu").unwrap();
        run(&m, model.as_ref(), &dl, &opts, &mut |meta, p| {
            collect(&mut t, meta, p)
        })
        .unwrap();
        t
    };
    let starts = num(&t, "metadata/ranges/start");
    let chroms = match &t["metadata/ranges/chr"] {
        Values::Text(v) => v.clone(),
        Values::Num(_) => panic!("chr is text"),
    };
    let (s0, e0) = (starts[0] as i64 + 24, starts[0] as i64 + 72);
    let alone = (1..5).all(|i| {
        let s = starts[i] as i64 + 24;
        chroms[i] != chroms[0] || s >= e0 || s + 48 <= s0
    });
    let bw = std::sync::Arc::new(biobatch_formats::bigwig::BigWig::open(&r.files[1]).unwrap());
    let mut got = vec![0f32; 48];
    bw.reader()
        .read_window(&chroms[0], s0, e0, &mut got)
        .unwrap();
    assert!(alone, "the fixture's first five peaks do not overlap");
    for (g, w) in got.iter().zip(&want_profile[48..96]) {
        assert!((g - w).abs() <= 1e-6 * (1.0 + w.abs()), "{g} vs {w}");
    }
    let e = predict_to_file(&m, &args, &dir.path().join("p.txt2"), &opts, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains(".parquet, .tsv or .bw"), "{e}");
}

const KILL: &str = "BIOBATCH_TEST_KILL_AFTER_RENAME";

/// Dies (as a kill would: no unwinding, no destructors) once a model folder is in place.
struct DieWhenSaved;

impl Observer for DieWhenSaved {
    fn model_saved(&mut self, _: &Path, _: u64) {
        std::process::abort();
    }
}

#[test]
fn training_killed_between_the_folder_rename_and_the_history_write_leaves_a_whole_model() {
    if let Ok(out) = std::env::var(KILL) {
        // The child: one epoch, killed right after its model folder is renamed into place,
        // before the run's history replaces the folder's.
        let c = tiny(Path::new(&out));
        let _ = train::train(&c, false, &mut Describe(&mut DieWhenSaved));
        unreachable!("the observer kills the process");
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            &format!(
                "{}::training_killed_between_the_folder_rename_and_the_history_write_leaves_a_whole_model",
                // The test's path inside the binary: this module's, less the crate's name.
                module_path!().split_once("::").map_or("", |(_, m)| m)
            ),
            "--test-threads=1",
        ])
        .env(KILL, &out)
        .status()
        .unwrap();
    assert!(!status.success(), "the child was killed");
    let c = tiny(&out);
    let mdir = c.model_dir();
    for f in biobatch_bpnet::checkpoint::MODEL_FILES.iter().chain(&[
        "model.yaml",
        "dataloader.yaml",
        "example/loci.bed",
    ]) {
        assert!(mdir.join(f).is_file(), "{f} is missing");
    }
    let h: History =
        serde_json::from_slice(&std::fs::read(mdir.join("history.json")).unwrap()).unwrap();
    assert_eq!(h.epochs.len(), 1);
    assert_eq!(h.stopped, None, "killed before the run's end was written");
    // Nothing half-made beside it: the run folder holds the model alone (the checkpoint
    // came after the kill), no temporaries.
    let names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["model"]);
    // And it predicts: as a zoo model on its own example loci.
    let m = resolve_dir(&mdir).unwrap();
    let r = test(&m, &RunOptions::default(), None).unwrap();
    assert!(r.run.rows > 0);
    assert_eq!(r.skipped.as_deref(), Some("the model has no test.expect"));
}
