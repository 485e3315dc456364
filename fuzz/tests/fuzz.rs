//! The fuzz targets in the test suite: every seed is read and confirmed by its oracle, each
//! target survives a fixed run of mutated cases, every single-byte change of a seed is either
//! refused or read as an independent reading says, and every saved crasher is handled.

use biobatch_fuzz::{
    Budget, Case, Finding, Options, TARGETS, Verdict, crashers, crashers_dir, run_case,
};

/// The seed of the fixed runs (changing it changes the cases, not what must hold).
const SEED: u64 = 20_261_206;

fn iterations(target: &str) -> u64 {
    // Sized so the whole file runs in well under a minute in a debug build.
    match target {
        "fasta" | "mtx" | "store" | "spec" => 2_000,
        _ => 4_000,
    }
}

#[test]
fn every_seed_is_read_and_confirmed_by_its_oracle() {
    for t in TARGETS {
        let scratch = tempfile::tempdir().unwrap();
        for (i, seed) in (t.seeds)().iter().enumerate() {
            let v = run_case(t, seed, scratch.path());
            assert_eq!(v, Ok(Verdict::Accepted), "target {} seed {i}", t.name);
        }
    }
}

#[test]
fn each_target_survives_a_fixed_run_of_mutated_cases() {
    for t in TARGETS {
        let scratch = tempfile::tempdir().unwrap();
        let stats = biobatch_fuzz::fuzz(
            t,
            &Options {
                seed: SEED,
                first: 0,
                budget: Budget::Iterations(iterations(t.name)),
                hang_after: std::time::Duration::from_secs(60),
                save_to: None,
                scratch: scratch.path().to_path_buf(),
            },
        );
        let found: Vec<String> = stats
            .findings
            .iter()
            .map(|(f, c)| format!("{f} (case {})", c.id()))
            .collect();
        assert!(found.is_empty(), "target {}: {found:#?}", t.name);
        // The mutations reach both sides: damage that is refused, and changes that read.
        assert!(
            stats.refused > 0 && stats.accepted > 0,
            "target {}: {stats:?}",
            t.name
        );
    }
}

/// Up to `max` positions of `len`, evenly spread (all of them when `len <= max`).
fn positions(len: usize, max: usize) -> Vec<usize> {
    if len <= max {
        (0..len).collect()
    } else {
        (0..max).map(|k| k * len / max).collect()
    }
}

#[test]
fn every_single_byte_change_is_refused_or_read_as_the_file_says() {
    for t in TARGETS {
        let scratch = tempfile::tempdir().unwrap();
        let (mut runs, mut refused) = (0, 0);
        for seed in (t.seeds)() {
            for (k, (name, bytes)) in seed.files.iter().enumerate() {
                if name.starts_with(biobatch_fuzz::ORACLE_PREFIX) {
                    continue;
                }
                for at in positions(bytes.len(), 60) {
                    for new in [bytes[at] ^ 0x01, bytes[at] ^ 0x80, b'\n'] {
                        if new == bytes[at] {
                            continue;
                        }
                        let mut case: Case = seed.clone();
                        case.files[k].1[at] = new;
                        match run_case(t, &case, scratch.path()) {
                            Ok(v) => {
                                runs += 1;
                                refused += usize::from(v == Verdict::Refused);
                            }
                            Err(f) => panic!(
                                "target {}: byte {at} of {name} set to {new:#04x}: {f}",
                                t.name
                            ),
                        }
                    }
                }
            }
        }
        assert!(
            runs > 100 && refused > 0,
            "target {}: {runs} runs, {refused} refused",
            t.name
        );
    }
}

#[test]
fn saved_crashers_are_handled() {
    let dir = crashers_dir();
    let mut replayed = 0;
    for t in TARGETS {
        let scratch = tempfile::tempdir().unwrap();
        for (path, case) in crashers(&dir, t.name).unwrap() {
            match run_case(t, &case, scratch.path()) {
                Ok(_) => replayed += 1,
                Err(f @ (Finding::Panic(_) | Finding::Disagreement(_))) => {
                    panic!("{}: {f}", path.display())
                }
            }
        }
    }
    assert!(replayed > 0, "no crashers found under {}", dir.display());
}
