//! Images with padded per-image targets from a NumPy `.npz`, shuffled into batches by worker
//! threads — the "typical scientific dataset" case in a few lines.
//!
//! Run: `cargo run -p biobatch-loader --example arrays [FILE.npz]`
//! (defaults to the bundled `tests/data/arrays.npz`: images uint8 [12, 6, 5],
//! targets float32 [12, 4, 4] padded with -1, labels int64 [12]).

use biobatch_formats::npy::read_npz;
use biobatch_loader::{ArrayDataset, Loader, LoaderConfig};
use biobatch_sampling::{Order, Sampler, SamplerConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).unwrap_or_else(|| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/data/arrays.npz").to_string()
    });

    // Stored members stay memory-mapped; compressed ones are inflated once.
    let mut dataset = ArrayDataset::new();
    for (name, array) in read_npz(&path)? {
        dataset = match name.as_str() {
            "images" => dataset.input("images", array)?,
            _ => dataset.target(&name, array)?,
        };
    }
    let plan = Sampler::new(
        dataset.len() as u64,
        SamplerConfig {
            seed: Some(42),
            order: Order::Shuffle,
            ..Default::default()
        },
    )?;
    let loader = Loader::new(
        dataset,
        plan,
        LoaderConfig {
            batch_size: 5,
            num_workers: 2,
            prefetch: 2,
            drop_last: false,
        },
    )?;

    for epoch in 0..2 {
        let mut batches = loader.epoch(epoch)?;
        for batch in batches.by_ref() {
            let batch = batch?;
            let boxes = batch.array("targets/targets")?.view::<f32>()?;
            // Count real (non-padding) boxes per image.
            let real: Vec<usize> = boxes
                .outer_iter()
                .map(|img| img.outer_iter().filter(|b| b[0] >= 0.0).count())
                .collect();
            println!(
                "epoch {epoch} batch {}: images {:?}, labels {:?}, boxes per image {real:?}",
                batch.index(),
                batch.array("inputs/images")?.shape(),
                batch.array("targets/labels")?.as_slice::<i64>()?,
            );
        }
        println!("{}", batches.stats().summary());
    }
    Ok(())
}
