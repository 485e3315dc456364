//! `biobatch-fuzz`: runs fuzz targets for a bounded time and prints one JSON line per target
//! (run it through `cargo xtask fuzz`, which builds it in release mode and keeps what it
//! finds). Exits with status 1 when anything was found.
//!
//! Besides panics and disagreements, the binary catches two failures a test cannot: an
//! allocation larger than `--max-alloc-mib` (a size taken from a file without a check)
//! aborts the process, and a case running longer than `--hang-seconds` is saved and aborts
//! it. Either way the case being run is left in `SCRATCH/<target>/input`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Result, bail};
use biobatch_fuzz::{Budget, Options, TARGETS, fuzz, target};
use clap::Parser;

/// Refuses single allocations above a limit, so that a size read from a file and used
/// unchecked aborts the run (with the case on disk) instead of exhausting the machine.
struct Limited;

static LIMIT: AtomicUsize = AtomicUsize::new(usize::MAX);

thread_local! {
    static REPORTING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether a request of `size` bytes is refused; a refusal prints where it came from (the
/// small allocations of the report itself pass).
fn refused(size: usize) -> bool {
    let limit = LIMIT.load(Ordering::Relaxed);
    if size <= limit {
        return false;
    }
    if !REPORTING.with(|r| r.replace(true)) {
        eprintln!(
            "biobatch-fuzz: refused an allocation of {size} bytes (limit {limit}) in iteration \
             {} at\n{}",
            biobatch_fuzz::CURRENT_ITERATION.load(Ordering::Relaxed),
            std::backtrace::Backtrace::force_capture()
        );
    }
    true
}

// SAFETY: forwards to the system allocator; a refused request returns null, which the
// standard library turns into an allocation-failure abort.
unsafe impl GlobalAlloc for Limited {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if refused(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if refused(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if refused(new_size) {
            return std::ptr::null_mut();
        }
        // SAFETY: `ptr` came from `System` with this layout.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Limited = Limited;

#[derive(Parser)]
#[command(
    name = "biobatch-fuzz",
    about = "Fuzz biobatch's readers against independent oracles"
)]
struct Args {
    /// Targets to run (all when none is given): fasta, bed, bigwig, npy, mtx, store, spec.
    #[arg(long = "target")]
    targets: Vec<String>,
    /// Seconds per target.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Cases per target instead of a time budget.
    #[arg(long)]
    iterations: Option<u64>,
    /// The run's seed (the same seed generates the same cases).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The first iteration.
    #[arg(long, default_value_t = 0)]
    first: u64,
    /// Where findings are saved (`<dir>/<target>/<id>/`).
    #[arg(long)]
    crashers: Option<PathBuf>,
    /// Scratch folder (the running case is in `<scratch>/<target>/input`).
    #[arg(long, default_value = "target/fuzz-scratch")]
    scratch: PathBuf,
    /// A case running longer than this is a hang.
    #[arg(long, default_value_t = 20)]
    hang_seconds: u64,
    /// The largest single allocation allowed, in MiB.
    #[arg(long, default_value_t = 2048)]
    max_alloc_mib: usize,
    /// List the targets and exit.
    #[arg(long)]
    list: bool,
    /// Run one saved case (a folder of files) through the one `--target` and print what
    /// happens.
    #[arg(long)]
    replay: Option<PathBuf>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.list {
        for t in TARGETS {
            println!("{:8} {}", t.name, t.about);
        }
        return Ok(());
    }
    let chosen: Vec<_> = if args.targets.is_empty() {
        TARGETS.iter().collect()
    } else {
        args.targets
            .iter()
            .map(|n| target(n).ok_or_else(|| anyhow::anyhow!("no target `{n}` (see --list)")))
            .collect::<Result<_>>()?
    };
    if let Some(dir) = &args.replay {
        let [t] = chosen[..] else {
            bail!("--replay needs exactly one --target");
        };
        let case = biobatch_fuzz::Case::load(dir)?;
        let outcome = biobatch_fuzz::run_case(t, &case, &args.scratch.join(t.name));
        println!("{}: {outcome:?}", case.id());
        return match outcome {
            Ok(_) => Ok(()),
            Err(f) => bail!("{f}"),
        };
    }
    let mut found = 0;
    for t in chosen {
        let options = Options {
            seed: args.seed,
            first: args.first,
            budget: match args.iterations {
                Some(n) => Budget::Iterations(n),
                None => Budget::Time(Duration::from_secs(args.seconds)),
            },
            hang_after: Duration::from_secs(args.hang_seconds),
            save_to: args.crashers.clone(),
            scratch: args.scratch.join(t.name),
        };
        // Seeds are built before the limit applies (they may use writers with big buffers).
        LIMIT.store(usize::MAX, Ordering::Relaxed);
        let _ = (t.seeds)();
        LIMIT.store(args.max_alloc_mib << 20, Ordering::Relaxed);
        let stats = fuzz(t, &options);
        LIMIT.store(usize::MAX, Ordering::Relaxed);
        found += stats.findings.len();
        let findings: Vec<String> = stats
            .findings
            .iter()
            .map(|(f, c)| format!("{} ({})", f.signature(), c.id()))
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "target": t.name,
                "seed": args.seed,
                "first": args.first,
                "seconds": (stats.elapsed.as_secs_f64() * 10.0).round() / 10.0,
                "executions": stats.executions,
                "per_second": (stats.executions as f64 / stats.elapsed.as_secs_f64().max(1e-9)).round(),
                "refused": stats.refused,
                "accepted": stats.accepted,
                "unverified": stats.unverified,
                "findings": findings,
            })
        );
        for (f, c) in &stats.findings {
            eprintln!("{} case {}: {f}", t.name, c.id());
        }
    }
    if found > 0 {
        bail!("{found} finding(s)");
    }
    Ok(())
}
