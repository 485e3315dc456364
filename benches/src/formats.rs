//! `cargo xtask bench formats`: bigWig windows, FASTA windows to one-hot, narrowPeak parsing.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use biobatch_formats::bed::{BedReader, BedRecord};
use biobatch_formats::bigwig::{BigWig, ReadOptions, Window};
use biobatch_formats::fasta::{Fasta, Padding};
use biobatch_formats::sequence::{Layout, OneHot};
use serde_json::{Value, json};

use crate::{Case, Rand, all_threads, report, report_vs_memcpy, time};

/// Settings of the formats benchmark.
#[derive(Debug, Clone)]
pub struct Options {
    /// A directory made by `cargo xtask gen-data --scale bench`.
    pub data: PathBuf,
    /// Timed runs per case (the median is reported).
    pub runs: usize,
    /// Fewer items per run (a smoke test of the benchmark itself).
    pub quick: bool,
    /// Only cases whose name contains this.
    pub only: Option<String>,
}

impl Options {
    fn wants(&self, case: &str) -> bool {
        self.only.as_deref().is_none_or(|o| case.contains(o))
    }
}

/// Random windows of `len` bases lying inside chromosomes (chosen by length).
fn random_windows(chroms: &[(String, u64)], len: u64, n: usize, seed: u64) -> Vec<(usize, i64)> {
    let total: u64 = chroms.iter().map(|(_, l)| l.saturating_sub(len)).sum();
    let mut rng = Rand::new(seed);
    (0..n)
        .map(|_| {
            let mut x = rng.below(total);
            for (i, (_, l)) in chroms.iter().enumerate() {
                let room = l.saturating_sub(len);
                if x < room {
                    return (i, x as i64);
                }
                x -= room;
            }
            unreachable!("x < total")
        })
        .collect()
}

/// Runs every case, handing each JSON line to `emit` as soon as it is measured.
pub fn run(opts: &Options, emit: &mut dyn FnMut(Value)) -> Result<(), String> {
    const BIGWIG_CASES: [&str; 5] = [
        "bigwig_1kb_per_call",
        "bigwig_1kb_per_call_cold",
        "bigwig_1kb_batch_10k",
        "bigwig_1kb_batch_10k_cold",
        "bigtools_1kb_per_call",
    ];
    if BIGWIG_CASES.iter().any(|c| opts.wants(c)) {
        bigwig_cases(opts, emit)?;
    }
    if opts.wants("fasta_2114bp_onehot_u8") {
        fasta_cases(opts, emit)?;
    }
    if opts.wants("narrowpeak_parse") {
        bed_cases(opts, emit)?;
    }
    Ok(())
}

fn bigwig_cases(opts: &Options, emit: &mut dyn FnMut(Value)) -> Result<(), String> {
    const W: i64 = 1000;
    let path = opts.data.join("signal.plus.bw");
    let bw = Arc::new(BigWig::open(&path).map_err(|e| e.to_string())?);
    let chroms: Vec<(String, u64)> = bw
        .chroms()
        .iter()
        .map(|c| (c.name.clone(), c.length as u64))
        .collect();
    let n_single = if opts.quick { 4_000 } else { 40_000 };
    let batch = 10_000;
    let n_batches = if opts.quick { 2 } else { 10 };
    let file_info =
        json!({ "file": path.display().to_string(), "blocks": bw.num_blocks(), "window_bp": W });

    // Each thread reads its own random windows with its own reader; `calls` splits them into
    // calls of `per_call` windows.
    let run_case = |case: &str,
                    t: usize,
                    n: usize,
                    per_call: usize,
                    cache: usize,
                    seed: u64,
                    emit: &mut dyn FnMut(Value)| {
        if !opts.wants(case) {
            return;
        }
        let per_thread: Vec<Vec<(usize, i64)>> = (0..t)
            .map(|k| random_windows(&chroms, W as u64, n, seed + k as u64))
            .collect();
        let options = ReadOptions {
            cache_bytes: cache,
            ..Default::default()
        };
        // Output buffers and readers live across runs (the warm-up run fills the caches).
        let mut state: Vec<_> = (0..t)
            .map(|_| (bw.reader_with(options), vec![0f32; per_call * W as usize]))
            .collect();
        let timing = time(opts.runs, || {
            std::thread::scope(|s| {
                for (ws, (r, out)) in per_thread.iter().zip(state.iter_mut()) {
                    let chroms = &chroms;
                    s.spawn(move || {
                        let mut windows = Vec::with_capacity(per_call);
                        for chunk in ws.chunks(per_call) {
                            windows.clear();
                            windows.extend(
                                chunk
                                    .iter()
                                    .map(|&(c, st)| Window::new(&chroms[c].0, st, st + W)),
                            );
                            r.read_windows(&windows, &mut out[..chunk.len() * W as usize])
                                .expect("read");
                            std::hint::black_box(&out);
                        }
                    });
                }
            });
        });
        let items = n * t;
        let bytes = items * W as usize * 4;
        let mut extra = file_info.clone();
        extra["windows_per_call"] = json!(per_call);
        extra["cache_bytes"] = json!(cache);
        let case = Case {
            area: "formats",
            name: case,
            threads: t,
            items,
            unit: "windows",
            bytes,
        };
        emit(report_vs_memcpy(&case, &timing, extra, opts.runs));
    };

    let default_cache = ReadOptions::default().cache_bytes;
    for t in [1, all_threads()] {
        {
            // (a) one window per call: with the default block cache, and without a cache
            // between calls (every call inflates its blocks: the cold, inflate-bound rate).
            run_case(
                "bigwig_1kb_per_call",
                t,
                n_single,
                1,
                default_cache,
                11,
                emit,
            );
            run_case("bigwig_1kb_per_call_cold", t, n_single / 4, 1, 0, 31, emit);
        }
        {
            // (b) 10k random windows per call; blocks inflated once per call.
            run_case(
                "bigwig_1kb_batch_10k",
                t,
                batch * n_batches,
                batch,
                default_cache,
                101,
                emit,
            );
            run_case(
                "bigwig_1kb_batch_10k_cold",
                t,
                batch * n_batches,
                batch,
                0,
                201,
                emit,
            );
        }
    }

    if opts.wants("bigtools_1kb_per_call") {
        // Peer in the same process: bigtools, one window per call, reusing one reader.
        let ws = random_windows(&chroms, W as u64, n_single / 4, 7);
        let timing = time(opts.runs, || {
            let mut r = bigtools::BigWigRead::open_file(&path).expect("bigtools opens");
            let mut out = vec![0f32; W as usize];
            for &(c, st) in &ws {
                out.fill(0.0);
                for v in r
                    .get_interval(&chroms[c].0, st as u32, (st + W) as u32)
                    .expect("query")
                {
                    let v = v.expect("value");
                    let s = v.start.max(st as u32) - st as u32;
                    let e = v.end.min((st + W) as u32) - st as u32;
                    out[s as usize..e as usize].fill(v.value);
                }
                std::hint::black_box(&out);
            }
        });
        let items = ws.len();
        emit(report(
            &Case {
                area: "formats",
                name: "bigtools_1kb_per_call",
                threads: 1,
                items,
                unit: "windows",
                bytes: items * W as usize * 4,
            },
            &timing,
            file_info,
        ));
    }
    Ok(())
}

fn fasta_cases(opts: &Options, emit: &mut dyn FnMut(Value)) -> Result<(), String> {
    const L: usize = 2114;
    let path = opts.data.join("genome.fa");
    let fa = Fasta::open(&path).map_err(|e| e.to_string())?;
    let chroms: Vec<(String, u64)> = fa.chroms().map(|(n, l)| (n.to_string(), l)).collect();
    let n = if opts.quick { 20_000 } else { 200_000 };
    let enc = OneHot {
        layout: Layout::ChannelsFirst,
        ..Default::default()
    };
    for t in [1, all_threads()] {
        let per_thread: Vec<Vec<(usize, i64)>> = (0..t)
            .map(|k| random_windows(&chroms, L as u64, n, 500 + k as u64))
            .collect();
        let timing = time(opts.runs, || {
            std::thread::scope(|s| {
                for ws in &per_thread {
                    let fa = &fa;
                    s.spawn(move || {
                        let mut bases = vec![0u8; L];
                        let mut onehot = vec![0u8; 4 * L];
                        for &(c, st) in ws {
                            fa.fetch_id_into(c, st, st + L as i64, Padding::Error, &mut bases)
                                .expect("fetch");
                            enc.encode(&bases, &mut onehot).expect("valid bases");
                            std::hint::black_box(&onehot);
                        }
                    });
                }
            });
        });
        let items = n * t;
        let bytes = items * 4 * L;
        let extra =
            json!({ "file": path.display().to_string(), "window_bp": L, "layout": "[4, L] u8" });
        let case = Case {
            area: "formats",
            name: "fasta_2114bp_onehot_u8",
            threads: t,
            items,
            unit: "windows",
            bytes,
        };
        emit(report_vs_memcpy(&case, &timing, extra, opts.runs));
    }
    Ok(())
}

/// Writes a narrowPeak file of `lines` random records (deterministic), sorted by chromosome
/// and start as peak callers write them, if it is not there.
pub fn ensure_narrowpeak(path: &Path, lines: usize) -> std::io::Result<()> {
    if path.exists() {
        return Ok(());
    }
    let tmp = path.with_extension("tmp");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
    let mut rng = Rand::new(42);
    let per_chrom = lines.div_ceil(22);
    for i in 0..lines {
        let chrom = 1 + i / per_chrom;
        let start = (i % per_chrom) as u64 * 5_000 + rng.below(4_000);
        let width = 150 + rng.below(850);
        writeln!(
            w,
            "chr{chrom}\t{start}\t{}\tpeak_{i}\t{}\t.\t{:.5}\t{:.5}\t{:.5}\t{}",
            start + width,
            rng.below(1001),
            rng.f64() * 100.0,
            rng.f64() * 50.0,
            rng.f64() * 40.0,
            rng.below(width)
        )?;
    }
    w.flush()?;
    drop(w);
    std::fs::rename(tmp, path)
}

fn bed_cases(opts: &Options, emit: &mut dyn FnMut(Value)) -> Result<(), String> {
    let lines = 1_000_000;
    let path = opts.data.join("parse_1M_sorted.narrowPeak");
    ensure_narrowpeak(&path, lines).map_err(|e| format!("{}: {e}", path.display()))?;
    let size = std::fs::metadata(&path).map_err(|e| e.to_string())?.len() as usize;
    let timing = time(opts.runs, || {
        let mut r = BedReader::open(&path).expect("open");
        let mut rec = BedRecord::default();
        let mut n = 0usize;
        while r.read_record(&mut rec).expect("parse") {
            n += 1;
        }
        assert_eq!(n, lines);
    });
    let extra =
        json!({ "file": path.display().to_string(), "note": "mb_per_s counts input bytes" });
    emit(report(
        &Case {
            area: "formats",
            name: "narrowpeak_parse",
            threads: 1,
            items: lines,
            unit: "lines",
            bytes: size,
        },
        &timing,
        extra,
    ));
    Ok(())
}

/// Writes `n` random 1 kb windows of the bench signal file as `chrom\tstart\tend` lines
/// (the windows `cargo xtask compare bigwig` gives to both readers) and returns them.
pub fn write_compare_windows(
    data: &Path,
    n: usize,
    out: &Path,
) -> Result<Vec<(String, i64, i64)>, String> {
    let bw = BigWig::open(data.join("signal.plus.bw")).map_err(|e| e.to_string())?;
    let chroms: Vec<(String, u64)> = bw
        .chroms()
        .iter()
        .map(|c| (c.name.clone(), c.length as u64))
        .collect();
    let ws: Vec<(String, i64, i64)> = random_windows(&chroms, 1000, n, 2024)
        .into_iter()
        .map(|(c, s)| (chroms[c].0.clone(), s, s + 1000))
        .collect();
    let mut text = String::new();
    for (c, s, e) in &ws {
        text.push_str(&format!("{c}\t{s}\t{e}\n"));
    }
    std::fs::write(out, text).map_err(|e| format!("{}: {e}", out.display()))?;
    Ok(ws)
}

/// biobatch reading `windows` one per call on one thread (the counterpart of the peer run):
/// each timed pass uses a fresh reader, so it starts with an empty block cache; with
/// `cache_bytes = 0` no decoded block is kept between calls at all.
pub fn time_per_call(
    data: &Path,
    windows: &[(String, i64, i64)],
    runs: usize,
    cache_bytes: usize,
) -> Result<Value, String> {
    let bw = Arc::new(BigWig::open(data.join("signal.plus.bw")).map_err(|e| e.to_string())?);
    let options = ReadOptions {
        cache_bytes,
        ..Default::default()
    };
    let timing = time(runs, || {
        let mut r = bw.reader_with(options);
        let mut out = vec![0f32; 1000];
        for (c, s, e) in windows {
            r.read_window(c, *s, *e, &mut out).expect("read");
            std::hint::black_box(&out);
        }
    });
    let name = if cache_bytes == 0 {
        "biobatch_1kb_per_call_nocache"
    } else {
        "biobatch_1kb_per_call"
    };
    let case = Case {
        area: "compare",
        name,
        threads: 1,
        items: windows.len(),
        unit: "windows",
        bytes: windows.len() * 4000,
    };
    Ok(report(
        &case,
        &timing,
        json!({ "cache_bytes": cache_bytes, "fresh_reader_per_pass": true }),
    ))
}
