"""Times cherimoya's PeakGenerator on the bench dataset, as `cargo xtask compare peaks` runs it.

Usage: python peaks_cherimoya.py DATA_DIR EPOCHS NUM_WORKERS [cherimoya|biobatch]

With `biobatch` as the last argument the same loop runs on `biobatch.PeakGenerator` (the
Python package, a drop-in with the same arguments; NUM_WORKERS are then Rust threads), so both
loaders are consumed by one Python loop (`cargo xtask compare peaks --python`).

DATA_DIR holds genome.fa, peaks.narrowPeak, negatives.bed, signal.{plus,minus}.bw and
control.{plus,minus}.bw (made by `cargo xtask gen-data --scale bench`). Settings match
biobatch's bench: in 2114, out 1000, jitter 128, negative ratio 0.33, reverse complement on,
shuffle on, batch 64, no summits, no exclusion list, the outlier filter on (cherimoya's
default), stranded signal and control pairs (nested lists, so reverse complement swaps the
strands).

Prints one JSON line: import and construction (extraction) time, first batch, examples/s
(median epoch and all epochs), peak RSS of this process and of its children, what was kept,
and the first batch's shapes and dtypes.
"""
import json
import os
import resource
import statistics
import sys
import time


def bench_settings(data, workers):
    """PeakGenerator's arguments for the bench dataset in `data`, as biobatch's bench sets them
    (shared with train_bpnet_lite.py)."""
    path = lambda name: os.path.join(os.path.abspath(data), name)
    return dict(
        peaks=path("peaks.narrowPeak"),
        negatives=path("negatives.bed"),
        sequences=path("genome.fa"),
        signals=[[path("signal.plus.bw"), path("signal.minus.bw")]],
        controls=[[path("control.plus.bw"), path("control.minus.bw")]],
        in_window=2114,
        out_window=1000,
        max_jitter=128,
        negative_ratio=0.33,
        reverse_complement=True,
        shuffle=True,
        summits=False,
        random_state=1,
        pin_memory=False,  # no GPU on the machines this runs on
        num_workers=workers,
        batch_size=64,
    )


def main():
    data, epochs, workers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    impl = sys.argv[4] if len(sys.argv) > 4 else "cherimoya"

    t0 = time.perf_counter()
    import torch
    if impl == "biobatch":
        import biobatch as cherimoya
        from biobatch import PeakGenerator
    else:
        import cherimoya
        from cherimoya.io import PeakGenerator
    import_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    loader = PeakGenerator(**bench_settings(data, workers), verbose=False)
    construction_s = time.perf_counter() - t0

    first_batch_s, shapes = None, None
    epoch_s, examples, nbytes = [], 0, 0
    for _ in range(epochs):
        t = time.perf_counter()
        n = 0
        for batch in loader:
            if first_batch_s is None:
                first_batch_s = time.perf_counter() - t
                names = ["seq", "controls", "signal", "is_peak"]
                shapes = {k: [list(x.shape), str(x.dtype).replace("torch.", "")]
                          for k, x in zip(names, batch)}
            n += int(batch[0].shape[0])
            nbytes += sum(x.numel() * x.element_size() for x in batch)
        epoch_s.append(time.perf_counter() - t)
        examples = n
    ds = loader.dataset
    mb = lambda who: resource.getrusage(who).ru_maxrss / 1024.0
    print(json.dumps({
        "area": "compare",
        "case": f"{impl}_peak_generator",
        impl: cherimoya.__version__,
        "torch": torch.__version__,
        "num_workers": workers,
        "import_s": import_s,
        "construction_s": construction_s,
        "first_batch_s": first_batch_s,
        "examples_per_epoch": examples,
        "examples_per_s": examples / statistics.median(epoch_s),
        "output_bytes_per_s": nbytes / sum(epoch_s),
        "epochs_s": epoch_s,
        "peak_rss_mb": mb(resource.RUSAGE_SELF),
        "peak_rss_children_mb": mb(resource.RUSAGE_CHILDREN),
        "peaks_kept": int(ds.n_peaks),
        "negatives_kept": int(ds.n_negatives),
        "first_batch": shapes,
    }))


if __name__ == "__main__":
    main()
