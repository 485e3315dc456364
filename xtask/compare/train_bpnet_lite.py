"""Times bpnet-lite's PyTorch BPNet training on the bench dataset, as `cargo xtask compare train`
runs it beside `biobatch-bench train` (burn on the CPU).

Usage: python train_bpnet_lite.py DATA_DIR BATCHES RUNS THREADS WORKERS [WARMUP]

Both sides do the same work per step on the same data: bpnet-lite's default model (64 filters,
8 dilated layers, in 2114, out 1000, stranded output, two control tracks), a batch of 64 from
the bench dataset's training chromosomes (all but chr5, which the burn side holds out for
validation), bpnet-lite's own loss (`_mixture_loss`: MNLL over both strands plus the
log1p-count MSE, on every example, as biobatch's trainer computes it), backward, and Adam
(eps 1e-7). bpnet-lite's `fit` also clips
the gradient norm; biobatch's trainer does not, so neither side clips here. The batches come
from `biobatch.PeakGenerator` (the Python package, WORKERS Rust threads) so the data and its
order are those the burn side trains on; PyTorch computes on THREADS threads
(`torch.set_num_threads`).

WARMUP batches (default 2) run first and are not timed. Each run trains BATCHES batches from a
freshly initialised model; the timed figures are the medians of RUNS runs.

Prints one JSON line: examples/s (examples over step time plus time waited for data, as the
burn side reports it), the share of time the step waited for data, step seconds, and the
versions.
"""
import json
import os
import statistics
import sys
import time

from peaks_cherimoya import bench_settings


def training_chroms(data):
    """Chromosomes with peaks or negatives, less chr5 (the burn side's validation set)."""
    seen = set()
    for name in ("peaks.narrowPeak", "negatives.bed"):
        with open(os.path.join(data, name)) as f:
            for line in f:
                if line.strip() and not line.startswith(("#", "track", "browser")):
                    seen.add(line.split("\t", 1)[0])
    return sorted(c for c in seen if c != "chr5")


def main():
    data = os.path.abspath(sys.argv[1])
    batches, runs = int(sys.argv[2]), int(sys.argv[3])
    threads, workers = int(sys.argv[4]), int(sys.argv[5])
    warmup = int(sys.argv[6]) if len(sys.argv) > 6 else 2

    import numpy
    import torch
    import bpnetlite
    from bpnetlite.bpnet import BPNet
    from bpnetlite.losses import _mixture_loss
    import biobatch

    torch.set_num_threads(threads)
    loader = biobatch.PeakGenerator(
        **bench_settings(data, workers), chroms=training_chroms(data))
    # The count loss weight scales one term; the work per step does not depend on it.
    weight = 1.0

    def one_run(seed):
        torch.manual_seed(seed)
        model = BPNet(n_filters=64, n_layers=8, n_outputs=2, n_control_tracks=2,
                      trimming=(2114 - 1000) // 2, verbose=False)
        model.train()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
        it = iter(loader)
        wait = step = 0.0
        examples = 0
        for i in range(warmup + batches):
            t0 = time.perf_counter()
            X, X_ctl, y, _labels = next(it)
            t1 = time.perf_counter()
            X = X.float()
            optimizer.zero_grad()
            logits, logcounts = model(X, X_ctl)
            _, _, loss = _mixture_loss(y, logits, logcounts, weight)
            loss.backward()
            optimizer.step()
            loss_value = float(loss.item())
            t2 = time.perf_counter()
            if not numpy.isfinite(loss_value):
                raise SystemExit(f"the loss is not finite at batch {i}: {loss_value}")
            if i >= warmup:
                wait += t1 - t0
                step += t2 - t1
                examples += int(X.shape[0])
        del it
        total = wait + step
        return examples / total, wait / total, step

    rates, waits, steps = [], [], []
    for r in range(max(runs, 1)):
        rate, wait, step = one_run(r)
        rates.append(rate)
        waits.append(wait)
        steps.append(step)
    print(json.dumps({
        "area": "compare",
        "case": "bpnet_lite_pytorch_cpu",
        "bpnet_lite": bpnetlite.__version__,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "loader": "biobatch.PeakGenerator",
        "workers": workers,
        "batches": batches,
        "warmup_batches": warmup,
        "runs": len(rates),
        "examples_per_s": statistics.median(rates),
        "runs_examples_per_s": [round(r, 2) for r in rates],
        "wait_share": statistics.median(waits),
        "step_seconds": statistics.median(steps),
    }))


if __name__ == "__main__":
    main()
