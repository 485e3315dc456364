//! The bundled ONNX model through the zoo: described, tested against Kipoi's expected
//! predictions, then run on its example intervals into a Parquet file.
//!
//! ```sh
//! cargo run --release -p biobatch-zoo --example peak_cnn
//! ```

use biobatch_zoo::{RunOptions, Zoo};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let zoo = Zoo::load()?;
    let model = zoo.find("peak-cnn", None)?;
    print!("{}", biobatch_zoo::info::describe(&model));
    let test = zoo.test(&model, &RunOptions::default())?;
    println!(
        "zoo test: {} examples, {} values agree with the expected predictions",
        test.run.rows, test.compared
    );
    let examples = biobatch_formats::fs::examples_dir().ok_or("no bundled examples")?;
    let args = serde_json::json!({
        "intervals_file": model.dir.join("example/intervals.bed"),
        "fasta_file": examples.join("data/peaks/genome.fa"),
    });
    let out = tempfile::tempdir()?;
    let file = out.path().join("peak-cnn.parquet");
    let args = args.as_object().ok_or("arguments are a map")?;
    let r = zoo.predict_to_file(&model, args, &file, &RunOptions::default())?;
    println!("predicted {} intervals into {}", r.rows, file.display());
    Ok(())
}
