#!/usr/bin/env python3
"""Write tests/data/expected_bed.tsv from the copied BED / narrowPeak files.

Plain Python (no pybedtools): a line is a header line if it is empty or starts
with "track", "browser" or "#"; every other line is a data record, split on
TAB. `.gz` files are read with the gzip module.

Columns:
  file  n_records  n_header_lines  n_columns  first_chrom  first_start  first_end
        last_chrom  last_start  last_end
(start/end exactly as written in the file: 0-based start, exclusive end.)
"""
import gzip
import os
import sys

DATA = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))
FILES = [
    "a.bed",
    "CTCF_Kc_Bushey_2009.bed",
    "rmsk.hg18.chr21.small.bed",
    "rmsk.hg18.chr21.small.bed.gz",
    "example.narrowPeak",
]


def main():
    rows = []
    for name in FILES:
        path = os.path.join(DATA, name)
        opener = gzip.open if name.endswith(".gz") else open
        with opener(path, "rt", newline="") as fh:
            text = fh.read()
        assert "\r" not in text
        recs, n_hdr, ncols = [], 0, set()
        for line in text.split("\n")[:-1] if text.endswith("\n") else text.split("\n"):
            if not line or line.startswith(("track", "browser", "#")):
                n_hdr += 1
                continue
            f = line.split("\t")
            ncols.add(len(f))
            recs.append((f[0], int(f[1]), int(f[2])))
        assert len(ncols) == 1, (name, ncols)
        first, last = recs[0], recs[-1]
        rows.append([name, len(recs), n_hdr, ncols.pop(), *first, *last])
    with open(os.path.join(DATA, "expected_bed.tsv"), "w", newline="\n") as fh:
        fh.write("file\tn_records\tn_header_lines\tn_columns\tfirst_chrom\tfirst_start"
                 "\tfirst_end\tlast_chrom\tlast_start\tlast_end\n")
        for r in rows:
            fh.write("\t".join(map(str, r)) + "\n")
    print("wrote expected_bed.tsv")


if __name__ == "__main__":
    main()
