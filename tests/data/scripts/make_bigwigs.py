#!/usr/bin/env python3
"""Write the bigWig fixtures with pyBigWig and the expected_bigwig*.tsv files.

Requires pyBigWig (tested with pyBigWig 0.3.29, numpy 2.4.6, Python 3.11).
Chromosome names/lengths are read from multi.fa.fai (chrA 20000, chrB 25000,
chrC 3502). All randomness comes from random.Random with fixed seeds.

signal_plus.bw   bedGraph-style entries (addEntries(chroms, starts, ends=, values=)).
                 chrA and chrB: one 1-bp entry per base (43,000 entries, mostly
                 0.0, integer-valued peaks) except for the gaps listed in
                 PLUS_GAPS, which have no entries at all. chrC: a few sparse
                 multi-bp entries only.
signal_minus.bw  bedGraph-style entries, run-length merged (zero runs are
                 written as explicit 0.0 entries), integer-valued, with gaps
                 listed in MINUS_GAPS having no entries.
signal_fixed.bw  chrA: two fixedStep-style runs (span 20 / step 50 with
                 dyadic fractional values, then span 25 / step 25 with arbitrary
                 fractional values, some negative); chrB: in the header but no
                 data at all; chrC: variableStep-style entries (span 10).

Besides fixed edge windows and random windows (random.Random(4004)), a 6-bp
window around the end of every data block (read from the file's R-tree) that
ends inside its chromosome is included.

expected_bigwig.tsv       file chrom start end values
    values = ",".join(repr(v) for v in bw.values(chrom, start, end));
    pyBigWig returns the stored float32 widened to a Python float, so repr is
    exact; missing bases are NaN, written "nan".
expected_bigwig_sums.tsv  file chrom sum fsum_intervals
    sum = bw.stats(chrom, type="sum", exact=True)[0]; repr of the float,
    or "nan" where pyBigWig returns None (chromosome without data).
    fsum_intervals = math.fsum((end - start) * value for each entry of
    bw.intervals(chrom)), i.e. the correctly rounded f64 sum; "nan" where
    bw.intervals returns None. For fractional values libBigWig's own "exact"
    sum differs from it in the ~10th significant digit.
"""
import math
import os
import random
import struct
import sys

import pyBigWig

DATA = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))

PLUS_GAPS = {"chrA": [(5000, 5500)], "chrB": [(10000, 10500), (24000, 25000)]}
MINUS_GAPS = {"chrA": [(0, 300), (12000, 12800)], "chrB": [(10000, 10500)],
              "chrC": [(0, 1000)]}


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def read_fai():
    out = []
    with open(os.path.join(DATA, "multi.fa.fai")) as fh:
        for line in fh:
            f = line.split("\t")
            out.append((f[0], int(f[1])))
    return out


def peaky_counts(rng, length, n_peaks, noise):
    """Integer-valued per-base counts: zeros, gaussian peaks, sparse noise."""
    v = [0.0] * length
    for _ in range(n_peaks):
        c = rng.randrange(length)
        h = rng.randint(2, 60)
        w = rng.randint(15, 120)
        for i in range(max(0, c - 3 * w), min(length, c + 3 * w)):
            v[i] += float(round(h * math.exp(-0.5 * ((i - c) / w) ** 2)))
    for i in range(length):
        if rng.random() < noise:
            v[i] += 1.0
    return v


def in_gaps(i, gaps):
    return any(s <= i < e for s, e in gaps)


def write_plus(path, chroms):
    rng = random.Random(1001)
    model = {}
    bw = pyBigWig.open(path, "w")
    bw.addHeader(chroms)
    for chrom, length in chroms:
        model[chrom] = [math.nan] * length
        if chrom == "chrC":
            ivs = [(100, 150, 3.0), (151, 152, 1.0), (2000, 2600, 0.0),
                   (3400, length, 7.0)]
            bw.addEntries([chrom] * len(ivs), [s for s, _, _ in ivs],
                          ends=[e for _, e, _ in ivs], values=[x for _, _, x in ivs])
            for s, e, x in ivs:
                for i in range(s, e):
                    model[chrom][i] = x
            continue
        v = peaky_counts(rng, length, n_peaks=length // 1500, noise=0.01)
        starts = [i for i in range(length) if not in_gaps(i, PLUS_GAPS.get(chrom, []))]
        bw.addEntries([chrom] * len(starts), starts, ends=[s + 1 for s in starts],
                      values=[v[s] for s in starts])
        for s in starts:
            model[chrom][s] = v[s]
    bw.close()
    return model


def write_minus(path, chroms):
    rng = random.Random(2002)
    model = {}
    bw = pyBigWig.open(path, "w")
    bw.addHeader(chroms)
    for chrom, length in chroms:
        v = peaky_counts(rng, length, n_peaks=max(2, length // 2500), noise=0.002)
        gaps = MINUS_GAPS.get(chrom, [])
        model[chrom] = [math.nan] * length
        starts, ends, vals = [], [], []
        i = 0
        while i < length:
            if in_gaps(i, gaps):
                i += 1
                continue
            j = i + 1
            while j < length and v[j] == v[i] and not in_gaps(j, gaps):
                j += 1
            starts.append(i)
            ends.append(j)
            vals.append(v[i])
            for k in range(i, j):
                model[chrom][k] = v[i]
            i = j
        bw.addEntries([chrom] * len(starts), starts, ends=ends, values=vals)
    bw.close()
    return model


def write_fixed(path, chroms):
    rng = random.Random(3003)
    lengths = dict(chroms)
    model = {c: [math.nan] * l for c, l in chroms}
    bw = pyBigWig.open(path, "w")
    bw.addHeader(chroms)
    # chrA, fixedStep run 1: start 100, span 20, step 50, 150 entries, k/8 values
    vals1 = [rng.randint(0, 400) / 8.0 for _ in range(150)]
    bw.addEntries("chrA", 100, values=vals1, span=20, step=50)
    for n, x in enumerate(vals1):
        for k in range(100 + 50 * n, 100 + 50 * n + 20):
            model["chrA"][k] = f32(x)
    # chrA, fixedStep run 2: start 10000, span 25, step 25, 200 entries
    vals2 = [round(rng.uniform(-5.0, 50.0), 3) for _ in range(200)]
    bw.addEntries("chrA", 10000, values=vals2, span=25, step=25)
    for n, x in enumerate(vals2):
        for k in range(10000 + 25 * n, 10000 + 25 * n + 25):
            model["chrA"][k] = f32(x)
    # chrB: no data at all.
    # chrC: variableStep, span 10, sorted non-overlapping starts, last one
    # ending exactly at the chromosome end.
    starts = sorted(rng.sample(range(0, lengths["chrC"] // 10 - 1), 120))
    starts = [10 * s for s in starts] + [lengths["chrC"] - 10]
    vals3 = [round(rng.uniform(0.0, 10.0), 4) for _ in starts]
    bw.addEntries("chrC", starts, values=vals3, span=10)
    for s, x in zip(starts, vals3):
        for k in range(s, s + 10):
            model["chrC"][k] = f32(x)
    bw.close()
    return model


def windows(rng, chroms, special):
    out = list(special)
    weights = [l for _, l in chroms]
    for kind, count in (("one", 6), ("small", 10), ("mid", 12), ("big", 4)):
        for _ in range(count):
            chrom, length = rng.choices(chroms, weights=weights)[0]
            w = {"one": 1, "small": rng.randint(2, 50), "mid": rng.randint(51, 500),
                 "big": rng.randint(501, 5000)}[kind]
            w = min(w, length)
            s = rng.randint(0, length - w)
            out.append((chrom, s, s + w))
    return out


def data_block_ranges(path):
    """(chromId, start, end) of every data block, from the file's R-tree index."""
    with open(path, "rb") as fh:
        d = fh.read()
    full_index_offset = struct.unpack("<Q", d[24:32])[0]

    def walk(p):
        is_leaf, _, count = struct.unpack("<BBH", d[p:p + 4])
        p += 4
        out = []
        for _ in range(count):
            if is_leaf:
                sc, sb, ec, eb, _o, _sz = struct.unpack("<IIIIQQ", d[p:p + 32])
                p += 32
                out.append((sc, sb, ec, eb))
            else:
                _sc, _sb, _ec, _eb, o = struct.unpack("<IIIIQ", d[p:p + 24])
                p += 24
                out += walk(o)
        return out

    return walk(full_index_offset + 48)


def fmt(x):
    return "nan" if x is None or math.isnan(x) else repr(x)


def main():
    chroms = read_fai()
    assert [c for c, _ in chroms] == ["chrA", "chrB", "chrC"], chroms
    L = dict(chroms)
    files = {
        "signal_plus.bw": (write_plus, [
            ("chrA", 0, 1), ("chrA", L["chrA"] - 1, L["chrA"]), ("chrA", 0, 5000),
            ("chrA", 4990, 5510), ("chrA", 4999, 5001), ("chrA", 5499, 5501),
            ("chrB", 0, 10), ("chrB", 9950, 10550), ("chrB", 23990, 24010),
            ("chrB", 24500, L["chrB"]), ("chrC", 0, L["chrC"]), ("chrC", 140, 160),
            ("chrC", L["chrC"] - 1, L["chrC"])]),
        "signal_minus.bw": (write_minus, [
            ("chrA", 0, 1), ("chrA", 0, 400), ("chrA", 299, 301),
            ("chrA", 11900, 12900), ("chrA", L["chrA"] - 1, L["chrA"]),
            ("chrB", 9990, 10510), ("chrB", L["chrB"] - 50, L["chrB"]),
            ("chrC", 990, 1010), ("chrC", 0, L["chrC"]),
            ("chrC", L["chrC"] - 1, L["chrC"])]),
        "signal_fixed.bw": (write_fixed, [
            ("chrA", 0, 1), ("chrA", 0, 300), ("chrA", 119, 121), ("chrA", 100, 101),
            ("chrA", 7540, 7650), ("chrA", 7500, 10100), ("chrA", 14950, 15050),
            ("chrA", L["chrA"] - 1, L["chrA"]), ("chrB", 0, 100),
            ("chrB", L["chrB"] - 1, L["chrB"]), ("chrC", 0, L["chrC"]),
            ("chrC", L["chrC"] - 12, L["chrC"]), ("chrC", L["chrC"] - 1, L["chrC"])]),
    }
    rng = random.Random(4004)
    rows, sums = [], []
    for name, (writer, special) in files.items():
        path = os.path.join(DATA, name)
        model = writer(path, chroms)
        # windows straddling every data-block boundary inside a chromosome
        names = [c for c, _ in chroms]
        for sc, sb, ec, eb in data_block_ranges(path):
            assert sc == ec
            w = (names[ec], eb - 3, eb + 3)
            if eb < L[names[ec]] and w not in special:
                special.append(w)
        bw = pyBigWig.open(path)
        assert bw.isBigWig()
        assert bw.chroms() == L, bw.chroms()
        for chrom, s, e in windows(rng, chroms, special):
            got = bw.values(chrom, s, e)
            exp = model[chrom][s:e]
            assert len(got) == e - s
            for g, x in zip(got, exp):
                assert (math.isnan(g) and math.isnan(x)) or g == f32(x), (name, chrom, s, e, g, x)
            rows.append((name, chrom, str(s), str(e), ",".join(fmt(g) for g in got)))
        for chrom, _ in chroms:
            sm = bw.stats(chrom, type="sum", exact=True)[0]
            ivs = bw.intervals(chrom)
            fs = math.fsum((e - s) * v for s, e, v in ivs) if ivs else None
            sums.append((name, chrom, fmt(sm), fmt(fs)))
        bw.close()
        print(name, os.path.getsize(path), "bytes")
    with open(os.path.join(DATA, "expected_bigwig.tsv"), "w", newline="\n") as fh:
        fh.write("file\tchrom\tstart\tend\tvalues\n")
        for r in rows:
            fh.write("\t".join(r) + "\n")
    with open(os.path.join(DATA, "expected_bigwig_sums.tsv"), "w", newline="\n") as fh:
        fh.write("file\tchrom\tsum\tfsum_intervals\n")
        for r in sums:
            fh.write("\t".join(r) + "\n")
    print(len(rows), "windows;", len(sums), "sums")


if __name__ == "__main__":
    main()
