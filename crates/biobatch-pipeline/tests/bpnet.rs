//! BPNet end to end on the bundled example data with a tiny model: it learns, it resumes
//! exactly, and its predictions have the right shapes and ranges.

use std::path::{Path, PathBuf};

use biobatch_datasets::PeakConfig;
use biobatch_pipeline::bpnet::{BpnetConfig, PredictConfig, TrainConfig, predict, train};

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
            batch_size: 16,
            num_workers: 1,
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
    c.peaks.batch_size = 8;
    c.learning_rate = 0.02;
    c.epochs = 60;
    let h = train::train(&c, false, &mut |_| {}).unwrap();
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
    let full = train::train(&c, false, &mut |_| {}).unwrap();
    assert_eq!(full.stopped, "epochs");
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
    let cut = train::train(&b, false, &mut |_| {}).unwrap();
    assert_eq!(
        (cut.stopped.as_str(), cut.batches.len()),
        ("interrupted", stop)
    );
    b.stop_after_batches = None;
    let resumed = train::train(&b, true, &mut |_| {}).unwrap();
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
    train::train(&e, false, &mut |_| {}).unwrap();
    e.stop_after_batches = None;
    let h = train::train(&e, true, &mut |_| {}).unwrap();
    assert_eq!(
        h.epochs.iter().map(|r| r.epoch).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    assert_eq!(h.batches, full.batches);
    assert_eq!(h.epochs[2].validation, x.validation);
}

#[test]
fn predictions_have_the_windows_shapes_and_files_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let c = tiny(&dir.path().join("m"));
    train::train(&c, false, &mut |_| {}).unwrap();
    let peaks = dir.path().join("few.narrowPeak");
    let text = std::fs::read_to_string(data("peaks.narrowPeak")).unwrap();
    std::fs::write(&peaks, text.lines().take(5).collect::<Vec<_>>().join("\n")).unwrap();
    let mut pc = PredictConfig {
        model: dir.path().join("m/model"),
        peaks: vec![peaks],
        fasta: None,
        controls: None,
        summits: None,
        out: dir.path().join("pred.parquet"),
        batch_size: 4,
        device: Default::default(),
    };
    let preds = predict::predict(&pc).unwrap();
    assert_eq!(preds.len(), 5);
    for p in &preds {
        assert_eq!(p.end - p.start, 48);
        assert_eq!((p.counts.len(), p.profiles.len()), (1, 2));
        let total: f32 = p.profiles.iter().flatten().sum();
        assert!(
            p.counts[0] >= 0.0 && (total - p.counts[0]).abs() <= 1e-3 * (1.0 + p.counts[0]),
            "{p:?}"
        );
    }
    let files = predict::write(&pc, &preds).unwrap();
    assert_eq!(files, [dir.path().join("pred.parquet")]);
    let f = std::fs::File::open(&files[0]).unwrap();
    let r = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f).unwrap();
    let schema = r.schema().clone();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(
        names,
        [
            "chrom",
            "start",
            "end",
            "row",
            "counts_0",
            "profile_0",
            "profile_1"
        ]
    );
    let rows: usize = r.build().unwrap().map(|b| b.unwrap().num_rows()).sum();
    assert_eq!(rows, 5);

    pc.out = dir.path().join("pred.bw");
    let files = predict::write(&pc, &preds).unwrap();
    assert_eq!(files.len(), 2);
    let bw = std::sync::Arc::new(biobatch_formats::bigwig::BigWig::open(&files[1]).unwrap());
    let p = &preds[0];
    let mut got = vec![0f32; 48];
    bw.reader()
        .read_window(&p.chrom, p.start, p.end, &mut got)
        .unwrap();
    // Where the first window overlaps no other, the track holds exactly its prediction.
    let alone = preds[1..]
        .iter()
        .all(|q| q.chrom != p.chrom || q.start >= p.end || q.end <= p.start);
    if alone {
        for (g, w) in got.iter().zip(&p.profiles[1]) {
            assert!((g - w).abs() <= 1e-6 * (1.0 + w.abs()), "{g} vs {w}");
        }
    }
    pc.out = dir.path().join("pred.txt");
    assert!(
        predict::write(&pc, &preds)
            .unwrap_err()
            .to_string()
            .contains(".parquet or a .bw")
    );
}

#[test]
fn a_trained_model_runs_in_the_zoo_with_the_same_predictions() {
    use biobatch_pipeline::zoo::output::{Table, Values, collect};
    use biobatch_pipeline::zoo::predict::{PredictOptions, prepare, run, test};
    use biobatch_pipeline::zoo::source::resolve_dir;

    let dir = tempfile::tempdir().unwrap();
    let mut c = tiny(&dir.path().join("m"));
    c.epochs = 1;
    train::train(&c, false, &mut |_| {}).unwrap();
    let peaks = dir.path().join("few.narrowPeak");
    let text = std::fs::read_to_string(data("peaks.narrowPeak")).unwrap();
    std::fs::write(
        &peaks,
        text.lines().skip(20).take(9).collect::<Vec<_>>().join("\n"),
    )
    .unwrap();
    let pc = PredictConfig {
        model: dir.path().join("m/model"),
        peaks: vec![peaks.clone()],
        fasta: None,
        controls: None,
        summits: None,
        out: dir.path().join("pred.parquet"),
        batch_size: 4,
        device: Default::default(),
    };
    let want = predict::predict(&pc).unwrap();

    // The exported model.yaml + dataloader.yaml, through the zoo's own loader and writer;
    // then the same with the SafeTensors copy of the weights (bpnet-lite's names).
    let mdir = dir.path().join("m/model");
    let args = serde_json::json!({
        "peaks": peaks,
        "fasta": data("genome.fa"),
        "controls": [data("control.plus.bw"), data("control.minus.bw")],
    });
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
        let (model, dl) = prepare(&m, args.as_object().unwrap(), false, None).unwrap();
        let mut t = Table::new();
        let opts = PredictOptions {
            batch_size: 4,
            num_workers: 2,
            ..Default::default()
        };
        let r = run(&m, model.as_ref(), &dl, &opts, &mut |meta, p| {
            collect(&mut t, meta, p)
        })
        .unwrap();
        assert_eq!(r.rows, 9);
        let num = |k: &str| match &t[k] {
            Values::Num(v) => v.clone(),
            Values::Text(_) => panic!("{k} is text"),
        };
        for (i, p) in want.iter().enumerate() {
            assert!(
                (num("preds/counts/0")[i] - p.counts[0] as f64).abs()
                    <= 1e-4 * (1.0 + p.counts[0] as f64),
                "{weights}: row {i}"
            );
            for (track, prof) in p.profiles.iter().enumerate() {
                for (j, v) in prof.iter().enumerate() {
                    let got = num(&format!("preds/profile/{track}/{j}"))[i];
                    assert!(
                        (got - *v as f64).abs() <= 1e-4 * (1.0 + v.abs() as f64),
                        "{weights}: row {i} track {track} pos {j}"
                    );
                }
            }
            assert_eq!(num("metadata/row")[i], p.row as f64);
        }
    }
    let m = resolve_dir(&mdir).unwrap();
    // `zoo test` runs it on its example loci (held-out peaks kept in the folder) and
    // compares with the predictions written at the end of training.
    let loci = std::fs::read_to_string(mdir.join("example/loci.bed")).unwrap();
    assert!(!loci.is_empty() && loci.lines().count() <= 64);
    assert!(
        loci.lines().all(|l| l.starts_with("chr3\t")),
        "validation chromosome only"
    );
    let r = test(&m, &PredictOptions::default(), None).unwrap();
    assert_eq!(r.run.rows as usize, loci.lines().count());
    assert!(r.skipped.is_none(), "{:?}", r.skipped);
    // Per locus: the counts, 2 × 48 profile values and the metadata columns.
    assert!(r.compared >= r.run.rows as usize * 97, "{}", r.compared);
    // Other weights in the same folder predict differently, and the test says so.
    let other = dir.path().join("other");
    let mut c2 = tiny(&other);
    c2.epochs = 1;
    c2.init_seed = c.init_seed + 1;
    train::train(&c2, false, &mut |_| {}).unwrap();
    for w in ["model.bpk", "model.safetensors"] {
        std::fs::copy(other.join("model").join(w), mdir.join(w)).unwrap();
    }
    let e = test(
        &resolve_dir(&mdir).unwrap(),
        &PredictOptions::default(),
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("preds/"), "{e}");
}
