//! The BPNet peak loader on the bundled example data: open it (extraction, or the cache),
//! report what was kept and dropped, and run one epoch on two worker threads.
//!
//! ```sh
//! cargo run --release -p biobatch-datasets --example peaks
//! ```

use biobatch_datasets::{PeakConfig, PeakDataset};
use biobatch_sampling::Partition;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let examples = biobatch_formats::fs::examples_dir()
        .ok_or("run from the repository (or set BIOBATCH_EXAMPLES to its examples/ folder)")?;
    let config = PeakConfig::example(&examples);
    let ds = PeakDataset::open(&config)?;
    println!(
        "{} peaks and {} negatives kept; dropped: {}",
        ds.num_peaks(),
        ds.num_negatives(),
        ds.drops().describe()
    );
    let loader = ds.into_loader(Partition::single())?;
    let mut examples_seen = 0;
    for batch in loader.epoch(0)? {
        let batch = batch?;
        if batch.index() == 0 {
            for (path, array) in batch.leaves() {
                println!("{path}: {} {:?}", array.dtype(), array.shape());
            }
        }
        examples_seen += batch.batch_size()?.unwrap_or(0);
    }
    println!("epoch 0: {examples_seen} examples");
    Ok(())
}
