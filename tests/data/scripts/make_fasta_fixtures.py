#!/usr/bin/env python3
"""Build the FASTA indexes, bgzipped FASTAs and expected_fasta.tsv.

Requires `samtools` and `bgzip` on PATH (tested with samtools 1.16.1 /
htslib 1.16, Debian 12 packages `samtools` 1.16.1-1 and `tabix` 1.16+ds-3).
Run make_multi_fa.py first.

Steps (DATA_DIR = tests/data):
  samtools faidx lambda_virus.fa                       -> lambda_virus.fa.fai
  bgzip -c -i -I lambda_virus.fa.gz.gzi lambda_virus.fa > lambda_virus.fa.gz
  samtools faidx lambda_virus.fa.gz                    -> lambda_virus.fa.gz.fai
  samtools faidx multi.fa                              -> multi.fa.fai
  multi.fa.gz is compressed with *forced* BGZF block boundaries every 8192
  uncompressed bytes so that the file has several BGZF blocks (plain bgzip
  would put the ~49 KB file in one block):
    write a template .gzi whose uncompressed offsets are 8192, 16384, ...
    bgzip -c -g -I template.gzi multi.fa > multi.fa.gz   (re-bgzip using index)
    bgzip -r -I multi.fa.gz.gzi multi.fa.gz             (rebuild the real .gzi)
  samtools faidx multi.fa.gz                           -> multi.fa.gz.fai
  expected_fasta.tsv: `samtools faidx FILE REGION`, header line dropped and
  sequence lines concatenated, for a fixed list of regions plus random
  windows (random.Random(20240601)), for each of the four FASTA files.
"""
import os
import random
import struct
import subprocess
import sys
import tempfile

DATA = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))
LAMBDA = "gi|9626243|ref|NC_001416.1|"
BLOCK_U = 8192


def run(*args, stdout=None):
    subprocess.run(args, check=True, cwd=DATA, stdout=stdout)


def faidx_seq(fasta, region):
    p = subprocess.run(["samtools", "faidx", fasta, region], cwd=DATA,
                       check=True, capture_output=True, text=True)
    if p.stderr.strip():
        raise SystemExit(f"samtools warned for {fasta} {region}: {p.stderr}")
    lines = p.stdout.splitlines()
    assert lines[0] == ">" + region, (lines[0], region)
    return "".join(lines[1:])


def read_fai(path):
    out = {}
    with open(os.path.join(DATA, path)) as fh:
        for line in fh:
            f = line.rstrip("\n").split("\t")
            out[f[0]] = int(f[1])
    return out


def main():
    # lambda
    run("samtools", "faidx", "lambda_virus.fa")
    with open(os.path.join(DATA, "lambda_virus.fa.gz"), "wb") as fh:
        run("bgzip", "-c", "-i", "-I", "lambda_virus.fa.gz.gzi", "lambda_virus.fa", stdout=fh)
    run("samtools", "faidx", "lambda_virus.fa.gz")

    # multi
    run("samtools", "faidx", "multi.fa")
    size = os.path.getsize(os.path.join(DATA, "multi.fa"))
    offs = list(range(BLOCK_U, size, BLOCK_U))
    with tempfile.TemporaryDirectory() as td:
        tmpl = os.path.join(td, "template.gzi")
        with open(tmpl, "wb") as fh:
            fh.write(struct.pack("<Q", len(offs)))
            for u in offs:
                fh.write(struct.pack("<QQ", 0, u))
        with open(os.path.join(DATA, "multi.fa.gz"), "wb") as fh:
            run("bgzip", "-c", "-g", "-I", tmpl, "multi.fa", stdout=fh)
    run("bgzip", "-r", "-I", "multi.fa.gz.gzi", "multi.fa.gz")
    run("samtools", "faidx", "multi.fa.gz")

    # expected sequences
    lam_len = read_fai("lambda_virus.fa.fai")[LAMBDA]
    mlens = read_fai("multi.fa.fai")
    fixed = {
        "lambda_virus.fa": [
            (LAMBDA, 1, 1), (LAMBDA, lam_len, lam_len), (LAMBDA, 1, 70),
            (LAMBDA, 70, 71), (LAMBDA, 48441, lam_len), (LAMBDA, 12345, 17344),
        ],
        "multi.fa": [
            ("chrA", 1, 1), ("chrA", 20000, 20000), ("chrA", 1, 80),
            ("chrA", 80, 81), ("chrA", 19921, 20000),
            ("chrB", 1, 1), ("chrB", 25000, 25000),
            ("chrB", 2001, 4500), ("chrB", 1995, 2010), ("chrB", 4495, 4505),
            ("chrB", 2990, 3010), ("chrB", 10001, 10500), ("chrB", 9990, 10510),
            ("chrB", 15001, 15006), ("chrB", 14995, 15012),
            ("chrB", 17778, 17778), ("chrB", 18889, 18889),
            ("chrB", 20000, 20000), ("chrB", 21112, 21112),
            ("chrB", 24961, 25000),
            ("chrC", 1, mlens["chrC"]), ("chrC", 3501, 3502), ("chrC", 3431, 3502),
        ],
    }
    rng = random.Random(20240601)
    chroms = [("lambda_virus.fa", LAMBDA, lam_len)] + [
        ("multi.fa", c, l) for c, l in mlens.items()]
    for _ in range(14):
        fname, chrom, clen = rng.choice(chroms)
        length = rng.choice([1, rng.randint(2, 60), rng.randint(61, 500),
                             rng.randint(501, 3000)])
        length = min(length, clen)
        start = rng.randint(1, clen - length + 1)
        fixed[fname].append((chrom, start, start + length - 1))

    rows = []
    for fname in ("lambda_virus.fa", "multi.fa"):
        for chrom, s, e in fixed[fname]:
            region = f"{chrom}:{s}-{e}"
            seq = faidx_seq(fname, region)
            assert len(seq) == e - s + 1
            seq_gz = faidx_seq(fname + ".gz", region)
            assert seq == seq_gz, region
            rows.append((fname, region, seq))
            rows.append((fname + ".gz", region, seq_gz))
    with open(os.path.join(DATA, "expected_fasta.tsv"), "w", newline="\n") as fh:
        fh.write("file\tregion\tsequence\n")
        for r in rows:
            fh.write("\t".join(r) + "\n")
    print(f"wrote {len(rows)} rows to expected_fasta.tsv")


if __name__ == "__main__":
    main()
