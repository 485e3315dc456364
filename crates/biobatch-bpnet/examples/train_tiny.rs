//! A tiny BPNet trained for two epochs on the bundled example data (a few seconds on two
//! cores), then its predictions on the first batch of held-out peaks.
//!
//! ```sh
//! cargo run --release -p biobatch-bpnet --example train_tiny
//! ```

use biobatch_bpnet::{BpnetConfig, DeviceChoice, OnEpoch, Predictor, TrainConfig, train};
use biobatch_datasets::PeakDataset;
use biobatch_sampling::Partition;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    biobatch_bpnet::tune_allocator();
    let examples = biobatch_formats::fs::examples_dir()
        .ok_or("run from the repository (or set BIOBATCH_EXAMPLES to its examples/ folder)")?;
    let out = tempfile::tempdir()?;
    let mut c = TrainConfig::example(&examples);
    c.out = out.path().join("run");
    c.epochs = 2;
    c.peaks.in_window = 400;
    c.peaks.out_window = 200;
    c.model = BpnetConfig {
        n_filters: 16,
        n_layers: 3,
        ..Default::default()
    };
    let history = train::train(
        &c,
        false,
        &mut OnEpoch(|r: &biobatch_bpnet::EpochReport| {
            println!(
                "epoch {}: train loss {:.1}, validation profile Pearson {:.3}",
                r.epoch, r.train_loss, r.validation.profile_pearson
            )
        }),
    )?;
    println!("stopped: {:?}", history.stopped);

    let predictor = Predictor::load(&c.model_dir(), DeviceChoice::Cpu)?;
    let mut held_out = c.peaks.for_prediction();
    held_out.chroms = c.validation_chroms.clone();
    let loader = PeakDataset::open(&held_out)?.into_loader(Partition::single())?;
    if let Some(batch) = loader.epoch(0)?.next() {
        let batch = batch?;
        let preds = predictor.predict_on_batch(&batch)?;
        let counts = preds
            .get("counts")
            .and_then(|n| n.as_array())
            .ok_or("no counts")?;
        let counts = counts.as_slice::<f32>()?;
        println!(
            "predicted counts of the first held-out peaks: {:?}",
            &counts[..counts.len().min(4)]
        );
    }
    Ok(())
}
