"""Times pyBigWig reading the same 1 kb windows as `cargo xtask compare bigwig`.

Usage: python bigwig_pybigwig.py FILE.bw WINDOWS.tsv RUNS
Prints one JSON line: windows/s for one window per call (values(..., numpy=True)), the
median of RUNS timed passes after one warm-up pass.
"""
import json
import statistics
import sys
import time

import numpy as np
import pyBigWig


def main():
    path, windows_path, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    windows = []
    with open(windows_path) as f:
        for line in f:
            chrom, start, end = line.split("\t")
            windows.append((chrom, int(start), int(end)))
    bw = pyBigWig.open(path)

    def one_pass():
        total = 0.0
        for chrom, start, end in windows:
            v = bw.values(chrom, start, end, numpy=True)
            np.nan_to_num(v, copy=False)
            total += float(v[0])
        return total

    one_pass()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        one_pass()
        times.append(time.perf_counter() - t)
    med = statistics.median(times)
    print(json.dumps({
        "area": "compare",
        "case": "pybigwig_1kb_per_call",
        "threads": 1,
        "items": len(windows),
        "windows_per_s": round(len(windows) / med),
        "median_s": med,
        "runs_s": times,
        "pybigwig": pyBigWig.__version__ if hasattr(pyBigWig, "__version__") else "unknown",
        "numpy": np.__version__,
    }))


if __name__ == "__main__":
    main()
