#!/usr/bin/env python3
"""Derive tests/data/multi.fa from tests/data/lambda_virus.fa (deterministic).

Records (all substitutions, no insertions, so lengths stay 20000/25000/3502):
  chrA  lambda[0:20000], uppercase, line width 80 (20000 % 80 == 0: last line full)
  chrB  lambda[20000:45000], line width 60, with
          - soft-masked (lowercase) stretch at 0-based [2000, 4500)
          - a lowercase IUPAC 'y' at 0-based 3000 (inside the lowercase stretch)
          - a run of 500 'N' at 0-based [10000, 10500) (crosses line boundaries)
          - the IUPAC block 'RYKMSW' at 0-based [15000, 15006)
          - single IUPAC letters B, D, H, V at 0-based 17777, 18888, 19999, 21111
  chrC  lambda[45000:48502] (the last 3502 bp), line width 70

Header lines carry description words after whitespace for chrA and chrB;
the sequence name is only the first word.

Usage: python3 make_multi_fa.py [DATA_DIR]   (default: the parent of this script's dir)
"""
import os
import sys


def read_single_fasta(path):
    seq = []
    with open(path) as fh:
        header = fh.readline()
        assert header.startswith(">")
        for line in fh:
            seq.append(line.strip())
    return "".join(seq)


def wrap(seq, width):
    return "".join(seq[i:i + width] + "\n" for i in range(0, len(seq), width))


def main():
    data_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(
        os.path.dirname(os.path.abspath(__file__)))
    lam = read_single_fasta(os.path.join(data_dir, "lambda_virus.fa"))
    assert len(lam) == 48502, len(lam)

    chr_a = lam[0:20000].upper()

    b = list(lam[20000:45000])
    for i in range(2000, 4500):
        b[i] = b[i].lower()
    b[3000] = "y"
    for i in range(10000, 10500):
        b[i] = "N"
    for i, c in enumerate("RYKMSW"):
        b[15000 + i] = c
    for pos, c in ((17777, "B"), (18888, "D"), (19999, "H"), (21111, "V")):
        b[pos] = c
    chr_b = "".join(b)

    chr_c = lam[45000:48502]

    out = os.path.join(data_dir, "multi.fa")
    with open(out, "w", newline="\n") as fh:
        fh.write(">chrA lambda phage 1-20000\n")
        fh.write(wrap(chr_a, 80))
        fh.write(">chrB lambda phage 20001-45000 with soft-masking, N run and IUPAC codes\n")
        fh.write(wrap(chr_b, 60))
        fh.write(">chrC\n")
        fh.write(wrap(chr_c, 70))
    print("wrote", out)


if __name__ == "__main__":
    main()
