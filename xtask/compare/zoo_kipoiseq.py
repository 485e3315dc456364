"""kipoiseq's SeqIntervalDl timed as `kipoi predict` drives it: batch_iter(batch_size=32,
num_workers=0) over a BED file. Prints one JSON line: the median epoch's examples/s.

Usage: zoo_kipoiseq.py INTERVALS.bed GENOME.fa JSON_KWARGS EPOCHS
"""
import json
import statistics
import sys
import time

import kipoiseq
from kipoiseq.dataloaders import SeqIntervalDl

bed, fasta, kwargs, epochs = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4])
dl = SeqIntervalDl(bed, fasta, **kwargs)
n = len(dl)
times = []
for _ in range(epochs + 1):
    t = time.perf_counter()
    seen = 0
    for batch in dl.batch_iter(batch_size=32, num_workers=0):
        seen += len(batch["inputs"])
    assert seen == n, (seen, n)
    times.append(time.perf_counter() - t)
times = times[1:]  # the first epoch builds pyfaidx's index and warms the page cache
med = statistics.median(times)
print(json.dumps({
    "area": "compare", "case": "kipoiseq_seqintervaldl", "kipoiseq": kipoiseq.__version__,
    "args": kwargs, "examples": n, "examples_per_s": round(n / med), "median_s": med, "runs_s": times,
}))
