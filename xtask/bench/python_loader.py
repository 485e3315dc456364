"""`cargo xtask bench python`: what crossing into Python costs.

Usage: python python_loader.py DATA_DIR BIOBATCH_BIN RUNS

Prints one JSON line per case (medians of RUNS timed runs after a warm-up):
- `crossing_*`: per-batch cost of `next()` alone, `next()` + `tree()` (numpy views of every
  leaf), and `next()` + views + `torch.from_numpy` (when torch is importable), on a dataset
  whose batches cost almost nothing to fill (one int64 per sample), inline (0 workers).
- `peaks_python_loop`: `biobatch.PeakGenerator` on the bench dataset consumed by a Python loop
  that turns each batch into tensors (torch when importable, numpy views otherwise), five
  epochs per run, alternating run by run with the same loader drained in Rust in the same
  process (`Loader.drain`: the native rate, no batch reaching Python); and `biobatch peaks
  bench` (the Rust-native command, a subprocess) on the same files and settings, after them:
  examples/s and the ratios.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

import biobatch
from biobatch import _native


def median_of(runs, f):
    f()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return statistics.median(times), times


def crossing(runs, tmp):
    try:
        import torch
    except ImportError:
        torch = None
    n, b = 64 * 2000, 64
    np.save(os.path.join(tmp, "ids.npy"), np.arange(n, dtype=np.int64))
    ds = biobatch.ArrayDataset(os.path.join(tmp, "ids.npy"), batch_size=b, num_workers=0,
                               shuffle=False)
    loader = ds._loader
    batches = n // b

    def next_only():
        for buf in loader.epoch(0):
            pass

    def with_tree():
        for buf in loader.epoch(0):
            buf.tree()

    def with_tensors():
        for buf in loader.epoch(0):
            t = buf.tree()
            torch.from_numpy(t["inputs"]["x"])

    cases = [("crossing_next", next_only), ("crossing_next_tree", with_tree)]
    if torch is not None:
        cases.append(("crossing_next_tree_torch", with_tensors))
    out = []
    for name, f in cases:
        med, times = median_of(runs, f)
        out.append({
            "area": "python", "case": name, "batches": batches, "batch_size": b,
            "us_per_batch": med / batches * 1e6, "runs_s": times,
        })
    return out


def peaks(data, exe, runs, tmp, epochs=5):
    p = lambda name: os.path.join(data, name)
    settings = dict(in_window=2114, out_window=1000, max_jitter=128, negative_ratio=0.33,
                    batch_size=64, num_workers=2, random_state=1, cache_dir=os.path.join(tmp, "cache"))
    loader = biobatch.PeakGenerator(
        p("peaks.narrowPeak"), p("negatives.bed"), p("genome.fa"),
        [[p("signal.plus.bw"), p("signal.minus.bw")]],
        controls=[[p("control.plus.bw"), p("control.minus.bw")]], pin_memory=False, **settings,
    )
    try:
        import torch  # noqa: F401
        tensors = "torch"
    except ImportError:
        tensors = "numpy"

    def python_loop():
        n = 0
        for _ in range(epochs):
            for batch in loader:
                n += int(batch[0].shape[0])
        return n

    def native():
        # The same loader's next epochs, drained in Rust: no batch reaches Python.
        n = 0
        for _ in range(epochs):
            examples, _ = loader._loader.drain(loader.epoch)
            loader.set_epoch(loader.epoch + 1)
            n += examples
        return n

    # Alternating, after a warm-up of each: this VM's speed drifts over seconds, and a
    # drift must not land on one side only.
    python_loop(), native()
    py, nat = [], []
    for _ in range(runs):
        for f, out in ((python_loop, py), (native, nat)):
            t = time.perf_counter()
            n = f()
            out.append(n / (time.perf_counter() - t))
    py_rate, native_rate = statistics.median(py), statistics.median(nat)

    toml = os.path.join(tmp, "bench.toml")
    with open(toml, "w") as f:
        f.write(
            f'peaks = ["{p("peaks.narrowPeak")}"]\nnegatives = ["{p("negatives.bed")}"]\n'
            f'fasta = "{p("genome.fa")}"\n'
            f'signals = [["{p("signal.plus.bw")}", "{p("signal.minus.bw")}"]]\n'
            f'controls = [["{p("control.plus.bw")}", "{p("control.minus.bw")}"]]\n'
            "in_window = 2114\nout_window = 1000\nmax_jitter = 128\nnegative_ratio = 0.33\n"
            f'seed = 1\ncache_dir = "{os.path.join(tmp, "cache")}"\n'
            "[loader]\nbatch_size = 64\nnum_workers = 2\n"
        )
    rust = []
    for _ in range(runs):
        r = subprocess.run([exe, "peaks", "bench", "--config", toml, "--epochs", str(epochs)],
                           capture_output=True, text=True, check=True)
        rust.append(json.loads(r.stdout.splitlines()[-1])["examples_per_s"])
    rust_rate = statistics.median(rust)
    return [{
        "area": "python", "case": "peaks_python_loop", "tensors": tensors,
        "epochs_per_run": epochs, "examples_per_s": round(py_rate),
        "native_examples_per_s": round(native_rate), "ratio_to_native": py_rate / native_rate,
        "peaks_bench_examples_per_s": round(rust_rate), "ratio_to_peaks_bench": py_rate / rust_rate,
        "python_runs_examples_per_s": [round(x) for x in py],
        "native_runs_examples_per_s": [round(x) for x in nat],
        "peaks_bench_runs_examples_per_s": rust,
        "workers": 2, "batch_size": 64,
    }]


def main():
    data, exe, runs = os.path.abspath(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    with tempfile.TemporaryDirectory() as tmp:
        for line in crossing(runs, tmp) + peaks(data, exe, runs, tmp):
            print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
