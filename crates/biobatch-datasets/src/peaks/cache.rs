//! The peak dataset's extraction cache: what identifies it, and its stores as cache
//! sections.
//!
//! The file is named by a hash of the input paths and of every setting that shapes
//! extraction; it records a key that adds each input's fingerprint
//! ([`biobatch_formats::remote::fingerprint`]: size, times and inode of a file; size, ETag
//! and modification time of a URL).
//! A file with another key is stale (an input changed) and is rebuilt; a damaged one is
//! rebuilt too. Settings that only shape sampling or batches (seed, ratio, shuffle, reverse
//! complement, batch size, workers, one-hot dtype) are not part of the key: one cache serves
//! them all.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{PeakConfig, PeakDataset};
use crate::container::{self as cache, CacheFile, Lookup, Section};
use crate::windows::store::Values;
use crate::windows::{Drops, Locus, MissingChrom, NanPolicy, Store};
use crate::{Error, Result};

/// Version of what the peak dataset keeps in its cache and how it extracts it: bump when
/// either changes, so older files are rebuilt rather than misread.
pub(super) const EXTRACT_VERSION: u32 = 2;
const KIND: &str = "biobatch.peaks";

/// Where a dataset's extraction came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheStatus {
    /// No cache directory was given.
    Off,
    /// Read from a valid cache file.
    Hit(PathBuf),
    /// Extracted and written to a new cache file.
    Built(PathBuf),
    /// Extracted again because the file was stale or damaged (the reason), and rewritten.
    Rebuilt(PathBuf, String),
    /// Extracted; the cache file could not be written (the reason). The dataset is intact.
    WriteFailed(PathBuf, String),
}

impl CacheStatus {
    /// The cache file, when there is one.
    pub fn path(&self) -> Option<&Path> {
        match self {
            CacheStatus::Off => None,
            CacheStatus::Hit(p)
            | CacheStatus::Built(p)
            | CacheStatus::Rebuilt(p, _)
            | CacheStatus::WriteFailed(p, _) => Some(p),
        }
    }

    /// `off`, `hit`, `built`, `rebuilt` or `write_failed`.
    pub fn name(&self) -> &'static str {
        match self {
            CacheStatus::Off => "off",
            CacheStatus::Hit(_) => "hit",
            CacheStatus::Built(_) => "built",
            CacheStatus::Rebuilt(..) => "rebuilt",
            CacheStatus::WriteFailed(..) => "write_failed",
        }
    }
}

impl fmt::Display for CacheStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CacheStatus::Off => f.write_str("off"),
            CacheStatus::Hit(p) => write!(f, "hit {}", p.display()),
            CacheStatus::Built(p) => write!(f, "built {}", p.display()),
            CacheStatus::Rebuilt(p, why) => write!(f, "rebuilt {} ({why})", p.display()),
            CacheStatus::WriteFailed(p, why) => write!(f, "not written {} ({why})", p.display()),
        }
    }
}

/// The settings that shape extraction, with canonical input paths.
#[derive(Serialize)]
struct What<'a> {
    version: u32,
    container: u32,
    crate_version: &'static str,
    /// The FASTA's `.fai`, when there is one (it defines the chromosomes read).
    fai: Option<PathBuf>,
    peaks: Vec<PathBuf>,
    negatives: Vec<PathBuf>,
    fasta: PathBuf,
    signals: Vec<Vec<PathBuf>>,
    controls: Vec<Vec<PathBuf>>,
    exclusion_lists: Vec<PathBuf>,
    chroms: &'a [String],
    in_window: u32,
    out_window: u32,
    max_jitter: u32,
    summits: bool,
    missing: MissingChrom,
    nan: NanPolicy,
    outlier_filter: bool,
    min_counts: Option<f64>,
    max_counts: Option<f64>,
    counts_filter_negatives: bool,
}

/// The canonical path of a file; a URL as written.
fn canonical(p: &Path) -> Result<PathBuf> {
    if biobatch_formats::remote::is_url(p) {
        return Ok(p.to_path_buf());
    }
    std::fs::canonicalize(p).map_err(|e| Error::Io {
        path: p.to_path_buf(),
        source: e,
    })
}

/// `(file name hash, key)` of a configuration.
fn identify(c: &PeakConfig) -> Result<(u64, u128)> {
    let list = |v: &[PathBuf]| v.iter().map(|p| canonical(p)).collect::<Result<Vec<_>>>();
    let groups = |g: &[Vec<PathBuf>]| g.iter().map(|v| list(v)).collect::<Result<Vec<_>>>();
    let fai = biobatch_formats::fs::with_suffix(&c.fasta, ".fai");
    let what = What {
        version: EXTRACT_VERSION,
        container: cache::FORMAT_VERSION,
        crate_version: env!("CARGO_PKG_VERSION"),
        // A FASTA at a URL always has its index beside it (it is refused otherwise).
        fai: (fai.exists() || biobatch_formats::remote::is_url(&fai))
            .then(|| canonical(&fai))
            .transpose()?,
        peaks: list(&c.peaks)?,
        negatives: list(&c.negatives)?,
        fasta: canonical(&c.fasta)?,
        signals: groups(&c.signals)?,
        controls: groups(&c.controls)?,
        exclusion_lists: list(&c.exclusion_lists)?,
        chroms: &c.chroms,
        in_window: c.in_window,
        out_window: c.out_window,
        max_jitter: c.max_jitter,
        summits: c.summits,
        missing: c.missing,
        nan: c.nan,
        outlier_filter: c.outlier_filter,
        min_counts: c.min_counts,
        max_counts: c.max_counts,
        counts_filter_negatives: c.counts_filter_negatives,
    };
    let mut files: Vec<&PathBuf> = what.peaks.iter().chain(&what.negatives).collect();
    files.push(&what.fasta);
    files.extend(what.signals.iter().flatten());
    files.extend(what.controls.iter().flatten());
    files.extend(&what.exclusion_lists);
    files.extend(&what.fai);
    let identity = files
        .into_iter()
        .map(|f| biobatch_formats::remote::fingerprint(f))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let what = serde_json::to_vec(&what).map_err(|source| Error::Encode {
        what: "the cache key",
        source,
    })?;
    let name = xxhash_rust::xxh3::xxh3_64(&what);
    let mut keyed = what;
    for id in identity {
        keyed.extend_from_slice(&id);
    }
    Ok((name, xxhash_rust::xxh3::xxh3_128(&keyed)))
}

/// The cache file of `c` in `dir`, and its key.
pub(crate) fn path_and_key(c: &PeakConfig, dir: &Path) -> Result<(PathBuf, u128)> {
    let (name, key) = identify(c)?;
    Ok((dir.join(format!("peaks-{name:016x}.bbcache")), key))
}

/// What a lookup found: the restored dataset, or the status and key to build it under.
pub(crate) enum Found {
    Hit(Box<PeakDataset>),
    Build(CacheStatus, u128),
}

/// Restores the dataset of `c` from `dir` when a valid file is there; otherwise says why it
/// is to be built.
pub(crate) fn lookup(c: &PeakConfig, dir: &Path) -> Result<Found> {
    let (path, key) = path_and_key(c, dir)?;
    let status = match cache::open(&path, KIND, key) {
        Lookup::Hit(file) => match restore(c, &file) {
            Ok(mut ds) => {
                ds.cache = CacheStatus::Hit(path);
                ds.log();
                return Ok(Found::Hit(Box::new(ds)));
            }
            Err(why) => CacheStatus::Rebuilt(path, why),
        },
        Lookup::Missing => CacheStatus::Built(path),
        Lookup::Stale => CacheStatus::Rebuilt(path, "an input changed".into()),
        Lookup::Corrupt(why) => CacheStatus::Rebuilt(path, why),
        // Someone else's file, or a directory problem: extract, and leave the file alone.
        Lookup::Unreadable(why) => {
            tracing::warn!(cache = %path.display(), reason = %why, "cannot use the peak cache");
            CacheStatus::WriteFailed(path, why)
        }
    };
    if let CacheStatus::Rebuilt(p, why) = &status {
        tracing::warn!(cache = %p.display(), reason = %why, "rebuilding the peak cache");
    }
    Ok(Found::Build(status, key))
}

/// Writes the dataset's stores to the file named in `planned` (a `Built` or `Rebuilt`
/// status from [`lookup`]) under `key`; a failure is reported in the returned status, never
/// fatal.
pub(crate) fn store(ds: &PeakDataset, planned: CacheStatus, key: u128) -> CacheStatus {
    let path = match &planned {
        CacheStatus::Built(p) | CacheStatus::Rebuilt(p, _) => p.clone(),
        _ => return planned,
    };
    match write(ds, &path, key) {
        Ok(()) => planned,
        Err(e) => {
            tracing::warn!(cache = %path.display(), error = %e, "could not write the peak cache");
            CacheStatus::WriteFailed(path, e.to_string())
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct StoreMeta {
    n: usize,
    seq_len: usize,
    sig_len: usize,
    ambiguous: u64,
    /// Element type of each signal track.
    signal: Vec<String>,
    /// Element type of each control track.
    control: Vec<String>,
    /// Bases stored as NaN per track (signal, then control).
    nan: Vec<u64>,
}

impl StoreMeta {
    fn of(st: &Store) -> Self {
        let names = |v: &[Values]| v.iter().map(|x| x.dtype().to_string()).collect();
        StoreMeta {
            n: st.loci.len(),
            seq_len: st.seq_len,
            sig_len: st.sig_len,
            ambiguous: st.ambiguous,
            signal: names(&st.signal),
            control: names(&st.control),
            nan: st.nan.clone(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Meta {
    chrom_names: Vec<String>,
    signal_swap: Vec<usize>,
    control_swap: Vec<usize>,
    drops: Drops,
    negative_drops: Drops,
    peaks: StoreMeta,
    negatives: StoreMeta,
}

struct LociColumns {
    chrom: Vec<u32>,
    file: Vec<u32>,
    centre: Vec<i64>,
    row: Vec<u64>,
    line: Vec<u64>,
}

impl LociColumns {
    fn of(loci: &[Locus]) -> Self {
        LociColumns {
            chrom: loci.iter().map(|l| l.chrom).collect(),
            file: loci.iter().map(|l| l.file).collect(),
            centre: loci.iter().map(|l| l.centre).collect(),
            row: loci.iter().map(|l| l.row).collect(),
            line: loci.iter().map(|l| l.line).collect(),
        }
    }
}

fn write(ds: &PeakDataset, path: &Path, key: u128) -> Result<()> {
    let meta = Meta {
        chrom_names: ds.chrom_names.clone(),
        signal_swap: ds.signal_swap.clone(),
        control_swap: ds.control_swap.clone(),
        drops: ds.drops.clone(),
        negative_drops: ds.negative_drops.clone(),
        peaks: StoreMeta::of(&ds.peaks),
        negatives: StoreMeta::of(&ds.negatives),
    };
    let sets = [
        ("peaks", &ds.peaks, LociColumns::of(&ds.peaks.loci)),
        (
            "negatives",
            &ds.negatives,
            LociColumns::of(&ds.negatives.loci),
        ),
    ];
    let mut sections = Vec::new();
    for (name, st, loci) in &sets {
        let parts: [(&str, &[u8]); 6] = [
            ("seq", &st.seq),
            ("chrom", bytemuck::cast_slice(&loci.chrom)),
            ("file", bytemuck::cast_slice(&loci.file)),
            ("centre", bytemuck::cast_slice(&loci.centre)),
            ("row", bytemuck::cast_slice(&loci.row)),
            ("line", bytemuck::cast_slice(&loci.line)),
        ];
        sections.extend(parts.into_iter().map(|(what, bytes)| Section {
            name: format!("{name}.{what}"),
            bytes,
        }));
        for (what, tracks) in [("signal", &st.signal), ("control", &st.control)] {
            sections.extend(tracks.iter().enumerate().map(|(k, v)| Section {
                name: format!("{name}.{what}.{k}"),
                bytes: v.as_bytes(),
            }));
        }
    }
    let meta = serde_json::to_value(&meta).map_err(|source| Error::Encode {
        what: "the cache description",
        source,
    })?;
    cache::write(path, KIND, key, meta, &sections)
}

fn restore_store(
    file: &CacheFile,
    name: &str,
    m: &StoreMeta,
) -> std::result::Result<Store, String> {
    let col = |what: &str| format!("{name}.{what}");
    let e = |err: Error| err.to_string();
    let values = |what: &str, dtypes: &[String], want: usize| {
        let mut out = Vec::with_capacity(dtypes.len());
        for (k, dtype) in dtypes.iter().enumerate() {
            let name = col(&format!("{what}.{k}"));
            let v = match dtype.as_str() {
                "u8" => Values::U8(file.column::<u8>(&name).map_err(e)?),
                "u16" => Values::U16(file.column::<u16>(&name).map_err(e)?),
                "f32" => Values::F32(file.column::<f32>(&name).map_err(e)?),
                other => return Err(format!("unknown dtype `{other}` of {name}")),
            };
            let got = v.as_bytes().len() / Values::width(dtype).unwrap_or(1);
            if got != want {
                return Err(format!("{name} holds {got} values, expected {want}"));
            }
            out.push(v);
        }
        Ok(out)
    };
    let size = |a: usize, b: usize| {
        a.checked_mul(b)
            .ok_or_else(|| format!("{name}: sizes overflow"))
    };
    let seq = file.column::<u8>(&col("seq")).map_err(e)?;
    if seq.len() != size(m.n, m.seq_len)? {
        return Err(format!("{} has the wrong length", col("seq")));
    }
    let chrom = file.column::<u32>(&col("chrom")).map_err(e)?;
    let fidx = file.column::<u32>(&col("file")).map_err(e)?;
    let centre = file.column::<i64>(&col("centre")).map_err(e)?;
    let row = file.column::<u64>(&col("row")).map_err(e)?;
    let line = file.column::<u64>(&col("line")).map_err(e)?;
    if [chrom.len(), fidx.len(), centre.len(), row.len(), line.len()] != [m.n; 5] {
        return Err(format!("the {name} loci have the wrong length"));
    }
    let loci = (0..m.n)
        .map(|i| Locus {
            chrom: chrom[i],
            file: fidx[i],
            centre: centre[i],
            row: row[i],
            line: line[i],
        })
        .collect();
    Ok(Store {
        loci,
        seq_len: m.seq_len,
        sig_len: m.sig_len,
        seq,
        ambiguous: m.ambiguous,
        signal: values("signal", &m.signal, size(m.n, m.sig_len)?)?,
        control: values("control", &m.control, size(m.n, m.seq_len)?)?,
        nan: m.nan.clone(),
    })
}

fn restore(c: &PeakConfig, file: &CacheFile) -> std::result::Result<PeakDataset, String> {
    let meta: Meta = serde_json::from_value(file.meta().clone())
        .map_err(|e| format!("unreadable description: {e}"))?;
    let peaks = restore_store(file, "peaks", &meta.peaks)?;
    let negatives = restore_store(file, "negatives", &meta.negatives)?;
    let names = meta.chrom_names.len() as u32;
    if peaks
        .loci
        .iter()
        .chain(&negatives.loci)
        .any(|l| l.chrom >= names)
    {
        return Err("a locus names an unknown chromosome".into());
    }
    let (t, ct) = (meta.signal_swap.len(), meta.control_swap.len());
    if [peaks.signal.len(), negatives.signal.len()] != [t; 2]
        || [peaks.control.len(), negatives.control.len()] != [ct; 2]
        || meta.signal_swap.iter().any(|&k| k >= t)
        || meta.control_swap.iter().any(|&k| k >= ct)
    {
        return Err("track counts disagree".into());
    }
    // The spans must be the ones these settings extract (fill relies on them).
    let (inw, outw, j) = (
        c.in_window as usize,
        c.out_window as usize,
        c.max_jitter as usize,
    );
    if (peaks.seq_len, peaks.sig_len) != (inw + 2 * j, outw + 2 * j)
        || (negatives.seq_len, negatives.sig_len) != (inw, outw)
    {
        return Err("window spans disagree with the settings".into());
    }
    if peaks.loci.is_empty() {
        return Err("no peaks".into());
    }
    Ok(PeakDataset {
        config: c.clone(),
        chrom_names: meta.chrom_names,
        peaks,
        negatives,
        signal_swap: meta.signal_swap,
        control_swap: meta.control_swap,
        drops: meta.drops,
        negative_drops: meta.negative_drops,
        cache: CacheStatus::Off,
    })
}
