//! A trained BPNet's zoo description: `model.yaml` (type `biobatch.bpnet`, weights, schema,
//! provenance) and `dataloader.yaml` (`biobatch.PeakDataset` with the training's windows and
//! inputs as examples), so that `biobatch zoo predict DIR` and `zoo test DIR` run it.

use super::train::TrainConfig;
use crate::Result;

/// Loci a trained model keeps as its example (`example/loci.bed`): enough for `zoo test`
/// to mean something, few enough to run in seconds.
pub const EXAMPLE_LOCI: usize = 64;

/// Where the example loci go, relative to the model folder.
pub const EXAMPLE_FILE: &str = "example/loci.bed";

/// The model's example loci: the first [`EXAMPLE_LOCI`] records of its first peak file on a
/// validation chromosome (held out from training), else its first records, verbatim (so a
/// narrowPeak keeps its summits). `None` when the file has no records.
pub fn example_loci(c: &TrainConfig) -> Result<Option<String>> {
    let Some(path) = c.peaks.peaks.first() else {
        return Ok(None);
    };
    let text = crate::read_text(path)?;
    let records: Vec<&str> = text
        .lines()
        .filter(|l| {
            let l = l.trim_start();
            !(l.is_empty()
                || l.starts_with('#')
                || l.starts_with("track")
                || l.starts_with("browser"))
        })
        .collect();
    let held_out: Vec<&str> = records
        .iter()
        .copied()
        .filter(|l| {
            let chrom = l.split('\t').next().unwrap_or_default();
            c.validation_chroms.iter().any(|v| v == chrom)
        })
        .take(EXAMPLE_LOCI)
        .collect();
    let chosen = if held_out.is_empty() {
        records.into_iter().take(EXAMPLE_LOCI).collect()
    } else {
        held_out
    };
    if chosen.is_empty() {
        return Ok(None);
    }
    Ok(Some(chosen.join("\n") + "\n"))
}

/// YAML text of a string (JSON strings are YAML).
fn q(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

fn list(paths: &[std::path::PathBuf]) -> String {
    let v: Vec<String> = paths.iter().map(|p| q(&p.display().to_string())).collect();
    format!("[{}]", v.join(", "))
}

/// The `model.yaml` of a trained model.
pub fn model_yaml(c: &TrainConfig) -> String {
    let m = &c.model;
    let files: Vec<String> = c
        .peaks
        .peaks
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let mut y = String::new();
    y.push_str("type: biobatch.bpnet\n");
    y.push_str("args:\n  weights: model.bpk\n  config: config.json\n");
    y.push_str(&format!(
        "info:\n  doc: BPNet ({} filters, {} dilated layers) trained by `biobatch train bpnet`\n",
        m.n_filters, m.n_layers
    ));
    y.push_str("  version: \"0.1\"\n  license: unknown\n  tags: [BPNet, profile]\n");
    y.push_str(&format!(
        "  trained_on: {}\n",
        q(&format!(
            "peaks {}; validation chromosomes {}",
            files.join(", "),
            c.validation_chroms.join(", ")
        ))
    ));
    y.push_str("default_dataloader: .\nschema:\n  inputs:\n");
    y.push_str(&format!(
        "    seq:\n      shape: (4, {})\n      special_type: DNASeq\n      doc: one-hot sequence, channels A C G T first\n      associated_metadata: ranges\n",
        m.in_window
    ));
    if m.control_tracks > 0 {
        y.push_str(&format!(
            "    controls:\n      shape: ({}, {})\n      doc: control tracks (stranded pairs plus, minus)\n",
            m.control_tracks, m.in_window
        ));
    }
    y.push_str(&format!(
        "  targets:\n    profile:\n      shape: ({}, {})\n      doc: expected counts per base and track over the output window (each task's profile distribution times its counts)\n",
        m.output_tracks(),
        m.out_window
    ));
    y.push_str(&format!(
        "    counts:\n      shape: ({},)\n      doc: predicted total counts per task over the output window\n",
        m.tasks.len()
    ));
    y
}

/// The `dataloader.yaml` of a trained model: the peak loader in prediction mode, with the
/// training's genome and control tracks as examples, `example_loci` (a file relative to the
/// model folder) or else the training's loci as the example loci, and its windows as
/// defaults.
pub fn dataloader_yaml(c: &TrainConfig, example_loci: Option<&str>) -> String {
    let p = &c.peaks;
    let mut y = String::new();
    y.push_str("type: Dataset\ndefined_as: biobatch.PeakDataset\n");
    y.push_str("info:\n  doc: Loci (BED / narrowPeak) as BPNet sees them, centred, without jitter or reverse complement.\n");
    y.push_str("args:\n");
    let loci = match example_loci {
        Some(f) => format!("[{}]", q(f)),
        None => list(&p.peaks),
    };
    y.push_str(&format!(
        "  peaks:\n    doc: BED or narrowPeak files of the loci to predict\n    example: {loci}\n"
    ));
    y.push_str(&format!(
        "  fasta:\n    doc: the genome (FASTA with .fai)\n    example: {}\n",
        q(&p.fasta.display().to_string())
    ));
    if !p.controls.is_empty() {
        let groups: Vec<String> = p.controls.iter().map(|g| list(g)).collect();
        y.push_str(&format!(
            "  controls:\n    doc: control bigWigs, in groups (a stranded pair is plus, minus)\n    example: [{}]\n",
            groups.join(", ")
        ));
    }
    y.push_str(&format!(
        "  in_window:\n    doc: input window (must be the model's)\n    default: {}\n",
        p.in_window
    ));
    y.push_str(&format!(
        "  out_window:\n    doc: output window (must be the model's)\n    default: {}\n",
        p.out_window
    ));
    y.push_str(&format!(
        "  summits:\n    doc: centre narrowPeak loci on their summit\n    default: {}\n",
        p.summits
    ));
    y.push_str("  missing:\n    doc: loci on chromosomes a bigWig lacks (error, zeros or drop)\n    optional: true\n");
    y.push_str("output_schema:\n  inputs:\n");
    y.push_str(&format!(
        "    seq:\n      shape: (4, {})\n      special_type: DNASeq\n      doc: one-hot sequence\n",
        p.in_window
    ));
    if c.model.control_tracks > 0 {
        y.push_str(&format!(
            "    controls:\n      shape: ({}, {})\n      doc: control tracks\n",
            c.model.control_tracks, p.in_window
        ));
    }
    y.push_str("  metadata:\n    ranges:\n      type: GenomicRanges\n      doc: the input window of each locus\n");
    y
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zoo::spec::{dataloader_from_str, model_from_str};

    #[test]
    fn the_export_reads_back_as_zoo_specs() {
        let mut c = TrainConfig::default();
        c.peaks.peaks = vec!["/data/a \"b\".narrowPeak".into()];
        c.peaks.fasta = "/data/genome.fa".into();
        c.peaks.controls = vec![vec!["/c/plus.bw".into(), "/c/minus.bw".into()]];
        c.model.control_tracks = 2;
        let m = model_from_str(&model_yaml(&c), std::path::Path::new("model.yaml")).unwrap();
        assert_eq!(m.kind, "biobatch.bpnet");
        assert!(m.warnings.is_empty(), "{:?}", m.warnings);
        let d = dataloader_from_str(
            &dataloader_yaml(&c, None),
            std::path::Path::new("dataloader.yaml"),
        )
        .unwrap();
        assert!(d.warnings.is_empty(), "{:?}", d.warnings);
        assert_eq!(d.defined_as.as_deref(), Some("biobatch.PeakDataset"));
        assert_eq!(
            d.args["peaks"].example,
            Some(serde_json::json!(["/data/a \"b\".narrowPeak"]))
        );
        assert_eq!(
            d.args["controls"].example,
            Some(serde_json::json!([["/c/plus.bw", "/c/minus.bw"]]))
        );
        assert_eq!(
            d.args["in_window"].default,
            Some(serde_json::json!(c.peaks.in_window))
        );
    }
}
