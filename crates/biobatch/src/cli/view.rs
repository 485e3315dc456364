//! `biobatch view fasta|bigwig`.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use biobatch::formats::bigwig::{AbsentChrom, BigWig, Missing, ReadOptions};
use biobatch::formats::fasta::{Fasta, Padding};
use biobatch::formats::region::Region;
use clap::{Subcommand, ValueEnum};

use anyhow::anyhow;

#[derive(Debug, Subcommand)]
pub(super) enum View {
    /// Print regions of a FASTA file as FASTA records (like `samtools faidx`).
    Fasta {
        /// The FASTA file (plain, or bgzip with .gzi optional); uses FILE.fai if present.
        file: PathBuf,
        /// Regions: `chr`, `chr:start` or `chr:start-end` (1-based, inclusive).
        #[arg(required = true)]
        regions: Vec<String>,
        /// Bases per output line (0: one line per record).
        #[arg(long, default_value_t = 60)]
        width: usize,
        /// Pad the part of a region past the chromosome end with N (up to 1,000,000 bases)
        /// instead of failing.
        #[arg(long)]
        pad: bool,
    },
    /// Print per-base values of a bigWig file.
    Bigwig {
        /// The bigWig file.
        file: PathBuf,
        /// Regions: `chr`, `chr:start` or `chr:start-end` (1-based, inclusive).
        #[arg(required = true)]
        regions: Vec<String>,
        /// Output: `tsv` (chrom, 1-based position, value) or `json` (one object per region).
        #[arg(long, value_enum, default_value_t = Format::Tsv)]
        format: Format,
        /// Bases without data: `zero` or `nan` (printed `nan` in TSV, `null` in JSON).
        #[arg(long, value_enum, default_value_t = MissingArg::Zero)]
        missing: MissingArg,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(super) enum Format {
    Tsv,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(super) enum MissingArg {
    Zero,
    Nan,
}

/// How far past a sequence's end `view fasta --pad` pads.
const PAD_LIMIT: u64 = 1_000_000;

/// Parses a region typed on the command line and looks up its sequence's length.
fn region(
    file: &Path,
    text: &str,
    len_of: impl Fn(&str) -> Option<u64>,
) -> anyhow::Result<(Region, u64)> {
    let r = Region::parse(text, |n| len_of(n).is_some())?;
    let len = len_of(&r.chrom).ok_or_else(|| {
        anyhow!(
            "{}: no sequence named `{}` (region `{text}`)",
            file.display(),
            r.chrom
        )
    })?;
    Ok((r, len))
}

pub(crate) fn run(v: View) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    match v {
        View::Fasta {
            file,
            regions,
            width,
            pad,
        } => {
            let fa = Fasta::open(&file)?;
            let mut buf = Vec::new();
            for text in &regions {
                let (r, len) = region(&file, text, |n| fa.chrom_len(n))?;
                // Checked before anything is allocated: past the end only with --pad, and
                // then by at most PAD_LIMIT bases (more is a typo, not a window).
                let (start, end) = r
                    .resolve_padded(len, if pad { PAD_LIMIT } else { 0 })
                    .map_err(|e| {
                        if pad {
                            anyhow::Error::new(e)
                        } else {
                            anyhow!("{e} (`--pad` pads with N)")
                        }
                    })?;
                buf.resize((end - start) as usize, 0);
                let padding = if pad { Padding::N } else { Padding::Error };
                fa.fetch_into(&r.chrom, start as i64, end as i64, padding, &mut buf)?;
                writeln!(out, ">{r}")?;
                let w = if width == 0 { buf.len().max(1) } else { width };
                for line in buf.chunks(w) {
                    out.write_all(line)?;
                    out.write_all(b"\n")?;
                }
            }
        }
        View::Bigwig {
            file,
            regions,
            format,
            missing,
        } => {
            let bw = Arc::new(BigWig::open(&file)?);
            let missing = match missing {
                MissingArg::Zero => Missing::Zero,
                MissingArg::Nan => Missing::Nan,
            };
            let mut reader = bw.reader_with(ReadOptions {
                missing,
                absent_chrom: AbsentChrom::Error,
                ..Default::default()
            });
            let mut values = Vec::new();
            for text in &regions {
                let (r, len) = region(&file, text, |n| bw.chrom_len(n).map(u64::from))?;
                let (start, end) = r.resolve(len)?;
                values.resize((end - start) as usize, 0.0);
                reader.read_window(&r.chrom, start as i64, end as i64, &mut values)?;
                match format {
                    Format::Tsv => {
                        for (i, v) in values.iter().enumerate() {
                            let pos = start + i as u64 + 1;
                            if v.is_nan() {
                                writeln!(out, "{}\t{pos}\tnan", r.chrom)?;
                            } else {
                                writeln!(out, "{}\t{pos}\t{v}", r.chrom)?;
                            }
                        }
                    }
                    Format::Json => {
                        let vals: Vec<serde_json::Value> = values
                            .iter()
                            .map(|&v| {
                                serde_json::Number::from_f64(v as f64)
                                    .map_or(serde_json::Value::Null, serde_json::Value::Number)
                            })
                            .collect();
                        // A struct, not `json!`: its keys come out in this order whatever
                        // serde_json's features (a dependency may turn on
                        // `preserve_order`).
                        #[derive(serde::Serialize)]
                        struct Region<'a> {
                            region: String,
                            chrom: &'a str,
                            start: u64,
                            end: u64,
                            values: Vec<serde_json::Value>,
                        }
                        let obj = Region {
                            region: r.to_string(),
                            chrom: &r.chrom,
                            start,
                            end,
                            values: vals,
                        };
                        writeln!(out, "{}", serde_json::to_string(&obj)?)?;
                    }
                }
            }
        }
    }
    out.flush()?;
    Ok(())
}
