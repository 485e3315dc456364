//! Mutation fuzzing of biobatch's readers, on stable Rust.
//!
//! Each [`Target`] names a reader (FASTA + `.fai`, BED/narrowPeak, bigWig, `.npy`/`.npz`,
//! 10x MatrixMarket import, the single-cell store, zoo specs), a set of seed [`Case`]s
//! (real fixtures and small files written by other tools or by our writers) and a check that
//! runs the reader on a case's files and compares what it read with an independent reading
//! of the same bytes (a naive parser, bigtools, the store's source matrix, a YAML round
//! trip). A check ends in one of:
//!
//! - [`Verdict::Refused`]: the reader returned an error (always allowed: damaged input);
//! - [`Verdict::Accepted`]: the reader read the files and the oracle agrees;
//! - [`Verdict::Unverified`]: the reader read the files, its own consistency checks held, but
//!   the oracle could not judge (for example bigtools itself failed on the bytes);
//! - a [`Finding`]: a panic, or output that disagrees with the oracle.
//!
//! Cases are generated from `(seed, target, iteration)` alone ([`generate`]), so any run is
//! reproducible and needs no corpus on disk. A case that produced a finding is written to
//! `fuzz/crashers/<target>/<id>/` and replayed by the test suite from then on.
//!
//! `cargo xtask fuzz [--seconds N] [--target T] [--seed S]` runs the targets in release mode
//! for a bounded time; `cargo test -p biobatch-fuzz` runs each for a fixed number of
//! iterations and replays the crashers.

pub mod mutate;
pub mod oracle;
pub mod targets;

use std::cell::RefCell;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

pub use targets::{TARGETS, target};

/// The iteration being run by [`fuzz`] (for reports of a process that must abort).
pub static CURRENT_ITERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Files whose names start with this are the oracle's: written for the check, never mutated.
pub const ORACLE_PREFIX: &str = "oracle/";

/// The input of one execution: named files (names may contain `/`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Case {
    /// `(relative path, bytes)`, in a fixed order.
    pub files: Vec<(String, Vec<u8>)>,
}

impl Case {
    /// A case of the given files.
    pub fn new(files: impl IntoIterator<Item = (impl Into<String>, Vec<u8>)>) -> Self {
        Case {
            files: files.into_iter().map(|(n, b)| (n.into(), b)).collect(),
        }
    }

    /// The bytes of `name`, if the case has that file.
    pub fn file(&self, name: &str) -> Option<&[u8]> {
        self.files
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, b)| b.as_slice())
    }

    /// A short content hash naming the case (stable across runs and platforms).
    pub fn id(&self) -> String {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        for (n, b) in &self.files {
            h.update(n.as_bytes());
            h.update(&[0]);
            h.update(&(b.len() as u64).to_le_bytes());
            h.update(b);
        }
        format!("{:016x}", h.digest())
    }

    /// Writes the files under `dir` (which is emptied first).
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        if dir.exists() {
            std::fs::remove_dir_all(dir)?;
        }
        std::fs::create_dir_all(dir)?;
        for (name, bytes) in &self.files {
            let p = dir.join(name);
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(p, bytes)?;
        }
        Ok(())
    }

    /// Reads every file under `dir` (recursively, in sorted order) back into a case.
    pub fn load(dir: &Path) -> std::io::Result<Self> {
        fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) -> std::io::Result<()> {
            let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
            entries.sort_by_key(|e| e.file_name());
            for e in entries {
                let p = e.path();
                if p.is_dir() {
                    walk(root, &p, out)?;
                } else {
                    let rel = p.strip_prefix(root).unwrap_or(&p);
                    let name = rel
                        .components()
                        .map(|c| c.as_os_str().to_string_lossy())
                        .collect::<Vec<_>>()
                        .join("/");
                    out.push((name, std::fs::read(&p)?));
                }
            }
            Ok(())
        }
        let mut files = Vec::new();
        walk(dir, dir, &mut files)?;
        Ok(Case { files })
    }
}

/// How a check ended without a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The reader returned an error.
    Refused,
    /// The reader read the files and the oracle agrees.
    Accepted,
    /// The reader read the files; the oracle could not judge them.
    Unverified,
}

/// What a check found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// The reader (or the check) panicked: the message and where.
    Panic(String),
    /// The reader served something other than what the files say.
    Disagreement(String),
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finding::Panic(m) => write!(f, "panic: {m}"),
            Finding::Disagreement(m) => write!(f, "disagreement: {m}"),
        }
    }
}

impl Finding {
    /// One line that groups findings of the same cause (for de-duplication): where a panic
    /// happened, or the class of a disagreement (its message up to the first `: `).
    pub fn signature(&self) -> String {
        match self {
            Finding::Panic(m) => match m.rsplit_once(" at ") {
                Some((_, at)) => format!("panic at {at}"),
                None => format!("panic {m}"),
            },
            Finding::Disagreement(m) => {
                let class = m.split(": ").next().unwrap_or(m);
                format!("disagreement {}", class.lines().next().unwrap_or(""))
            }
        }
    }
}

/// A check: reads the case's files under `input` (writing anything it needs under `work`)
/// and judges what the reader served.
pub type Check = fn(input: &Path, work: &Path) -> Result<Verdict, String>;

/// One fuzz target.
pub struct Target {
    /// Short name (`fasta`, `bed`, ...), also the crashers folder.
    pub name: &'static str,
    /// What is fuzzed and against which oracle.
    pub about: &'static str,
    /// The seed cases (valid files).
    pub seeds: fn() -> Vec<Case>,
    /// The check.
    pub check: Check,
}

thread_local! {
    /// Set while a check runs on this thread: the panic hook records here instead of printing.
    static CAPTURE: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs (once) a panic hook that records panics of running checks instead of printing
/// them; other panics go to the previous hook.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let captured = CAPTURE.with(|c| {
                let mut c = c.borrow_mut();
                match c.as_mut() {
                    Some(slot) => {
                        let msg = info
                            .payload()
                            .downcast_ref::<&str>()
                            .map(|s| s.to_string())
                            .or_else(|| info.payload().downcast_ref::<String>().cloned())
                            .unwrap_or_else(|| "(non-text panic)".into());
                        let at = info
                            .location()
                            .map(|l| format!(" at {}:{}", l.file(), l.line()))
                            .unwrap_or_default();
                        *slot = format!("{msg}{at}");
                        true
                    }
                    None => false,
                }
            });
            if !captured {
                previous(info);
            }
        }));
    });
}

/// Runs `target`'s check on `case`, with the files written under `scratch/input` and
/// `scratch/work` emptied first.
pub fn run_case(target: &Target, case: &Case, scratch: &Path) -> Result<Verdict, Finding> {
    install_panic_hook();
    let (input, work) = (scratch.join("input"), scratch.join("work"));
    case.write(&input)
        .and_then(|_| {
            if work.exists() {
                std::fs::remove_dir_all(&work)?;
            }
            std::fs::create_dir_all(&work)
        })
        .unwrap_or_else(|e| panic!("cannot write the case under {}: {e}", scratch.display()));
    CAPTURE.with(|c| *c.borrow_mut() = Some(String::new()));
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| (target.check)(&input, &work)));
    let message = CAPTURE.with(|c| c.borrow_mut().take()).unwrap_or_default();
    match result {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(disagreement)) => Err(Finding::Disagreement(disagreement)),
        Err(_) => Err(Finding::Panic(message)),
    }
}

/// The case of `iteration` for `target` under `seed`: a seed case with a few stacked
/// mutations, a pure function of its arguments.
pub fn generate(target: &Target, seeds: &[Case], seed: u64, iteration: u64) -> Case {
    let stream = xxhash_rust::xxh3::xxh3_64(target.name.as_bytes());
    let mut rng = biobatch_sampling::rng::rng(seed, stream, 0, iteration);
    mutate::mutated(seeds, &mut rng)
}

/// How long a fuzzing run goes on.
#[derive(Debug, Clone, Copy)]
pub enum Budget {
    /// This many cases.
    Iterations(u64),
    /// Until this much time has passed.
    Time(Duration),
}

/// What a fuzzing run did.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Cases run.
    pub executions: u64,
    /// Cases the reader refused.
    pub refused: u64,
    /// Cases the reader read and the oracle confirmed.
    pub accepted: u64,
    /// Cases the reader read that the oracle could not judge.
    pub unverified: u64,
    /// Distinct findings (by [`Finding::signature`]) with the first case of each.
    pub findings: Vec<(Finding, Case)>,
    /// Wall time.
    pub elapsed: Duration,
}

/// A case that ran longer than `hang_after`: written to `save_to` (if any), reported, and
/// the process aborted (a hung reader cannot be stopped from inside).
struct Watchdog {
    current: Arc<Mutex<Option<(Instant, Case)>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Watchdog {
    fn start(target: &'static str, hang_after: Duration, save_to: Option<PathBuf>) -> Self {
        let current: Arc<Mutex<Option<(Instant, Case)>>> = Arc::default();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (c, s) = (Arc::clone(&current), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !s.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(200));
                let guard = c.lock().unwrap_or_else(|p| p.into_inner());
                if let Some((started, case)) = guard.as_ref()
                    && started.elapsed() > hang_after
                {
                    let mut msg = format!(
                        "biobatch-fuzz: target `{target}`: case {} ran longer than {:?} (a hang) \
                         in iteration {}",
                        case.id(),
                        hang_after,
                        CURRENT_ITERATION.load(std::sync::atomic::Ordering::Relaxed)
                    );
                    if let Some(dir) = &save_to {
                        let at = dir.join(target).join(format!("hang-{}", case.id()));
                        if case.write(&at).is_ok() {
                            msg.push_str(&format!("; saved to {}", at.display()));
                        }
                    }
                    eprintln!("{msg}");
                    std::process::abort();
                }
            }
        });
        Watchdog { current, stop }
    }

    fn enter(&self, case: &Case) {
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((Instant::now(), case.clone()));
    }

    fn leave(&self) {
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Options of [`fuzz`].
#[derive(Debug, Clone)]
pub struct Options {
    /// The run's seed: the same seed gives the same cases.
    pub seed: u64,
    /// The first iteration (to continue a run, or to split one across processes).
    pub first: u64,
    /// How long to go on.
    pub budget: Budget,
    /// A case running longer than this is a hang.
    pub hang_after: Duration,
    /// Where findings are written (`<dir>/<target>/<id>/`), if anywhere.
    pub save_to: Option<PathBuf>,
    /// A scratch folder for the cases' files.
    pub scratch: PathBuf,
}

/// Fuzzes `target`: generates cases from its seeds and runs them until the budget is spent.
pub fn fuzz(target: &'static Target, options: &Options) -> Stats {
    let seeds = (target.seeds)();
    assert!(!seeds.is_empty(), "target `{}` has no seeds", target.name);
    let watchdog = Watchdog::start(target.name, options.hang_after, options.save_to.clone());
    let mut stats = Stats::default();
    let mut seen = std::collections::HashSet::new();
    let started = Instant::now();
    let mut i = options.first;
    loop {
        let done = match options.budget {
            Budget::Iterations(n) => stats.executions >= n,
            Budget::Time(t) => started.elapsed() >= t,
        };
        if done {
            break;
        }
        let case = generate(target, &seeds, options.seed, i);
        CURRENT_ITERATION.store(i, std::sync::atomic::Ordering::Relaxed);
        i += 1;
        watchdog.enter(&case);
        let outcome = run_case(target, &case, &options.scratch);
        watchdog.leave();
        stats.executions += 1;
        match outcome {
            Ok(Verdict::Refused) => stats.refused += 1,
            Ok(Verdict::Accepted) => stats.accepted += 1,
            Ok(Verdict::Unverified) => stats.unverified += 1,
            Err(finding) => {
                if seen.insert(finding.signature()) {
                    if let Some(dir) = &options.save_to {
                        let at = dir.join(target.name).join(case.id());
                        let _ = case.write(&at);
                        let _ = std::fs::write(at.with_extension("txt"), finding.to_string());
                    }
                    stats.findings.push((finding, case));
                }
            }
        }
    }
    stats.elapsed = started.elapsed();
    stats
}

/// The saved cases of `target` under `dir` (`<dir>/<target>/<id>/`), with their folders.
pub fn crashers(dir: &Path, target: &str) -> std::io::Result<Vec<(PathBuf, Case)>> {
    let folder = dir.join(target);
    let mut out = Vec::new();
    if !folder.is_dir() {
        return Ok(out);
    }
    let mut entries: Vec<_> = std::fs::read_dir(&folder)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        if e.path().is_dir() {
            out.push((e.path(), Case::load(&e.path())?));
        }
    }
    Ok(out)
}

/// The repository's `fuzz/crashers` folder.
pub fn crashers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("crashers")
}

/// A file of the repository's test fixtures (`tests/data/<name>`).
pub fn fixture(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("fixture {}: {e}", p.display()))
}
