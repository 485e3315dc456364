#!/usr/bin/env python3
"""Write the kipoiseq parity fixtures in tests/data/zoo/kipoiseq/.

Usage:
    python make_kipoiseq_expected.py [OUT_DIR]
    python make_kipoiseq_expected.py --bench GENOME_FA [N_INTERVALS [JSON_KWARGS]]

Needs kipoiseq (0.7.1 was used) with its dependencies, plus `six` and
`pybedtools` (kipoiseq imports both but does not declare them). The versions
used are written into every JSON file under "generator".

What it does:

1. Writes four BED files (their content is fixed in this script):
   * intervals.bed        BED3 + 2 label columns (0/1), 14 intervals on
                          tests/data/multi.fa, all inside their chromosome
                          even after resizing to 15, 16 or 20 bp;
   * intervals_strand.bed the same intervals as BED6 (name, score, strand)
                          + the same 2 label columns (what use_strand=True
                          needs: it reads 6 BED columns, labels follow);
   * intervals_nochr.bed  intervals.bed with "chr" removed from the names
                          (A, B, C) while multi.fa names are chrA, chrB, chrC;
   * intervals_edge.bed   BED3 without labels: intervals that touch or cross
                          a chromosome end, a zero-length one and one on a
                          chromosome that is not in the FASTA.
2. Runs kipoiseq.dataloaders.SeqIntervalDl / StringSeqIntervalDl with the
   argument sets in CASES over them and writes expected_<name>.json: the
   arguments, and for every example (dl[i], in file order) the inputs
   (one-hot as nested lists, or the string; for SeqIntervalDl also "seq",
   the string the one-hot was made from), their shape and dtype, the
   targets (list, or {} when kipoiseq returns an empty dict), and
   metadata.ranges (chr, start, end, id, strand) - or, when dl[i] raises, the
   exception type and message. It also tries to collate all examples into
   one batch with dl.batch_iter() and records the shapes (or the error).
   The one pandas-dependent case (num_chr_fasta=True) is written as
   expected_<name>_pandas1.json or expected_<name>_pandas2plus.json depending
   on the pandas that runs the script; run it once under pandas < 2 and once
   under pandas >= 2 to get both (all other files come out identical apart
   from the numpy/pandas versions under "generator").
3. Writes semantics.json: how single characters are one-hot encoded by the
   three encoder paths, and the output shape for every alphabet_axis /
   dummy_axis combination (or the error).

multi.fa is copied to a temporary directory first, so that pyfaidx builds its
own .fai there and never touches tests/data/multi.fa.fai.

--bench times SeqIntervalDl(...).batch_iter(batch_size=32, num_workers=0) over
N_INTERVALS (default 20000) random 1000 bp intervals (seed 0) on GENOME_FA
(bench-data/genome.fa), with auto_resize_len=1000 plus JSON_KWARGS (e.g.
'{"alphabet_axis": 0, "dummy_axis": 1}'); nothing is written to the repository.
"""
import json
import os
import random
import shutil
import sys
import tempfile
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.dirname(HERE)

# ---------------------------------------------------------------------------
# BED content. multi.fa (see tests/data/README.md): chrA 20000 bp uppercase;
# chrB 25000 bp with (0-based, half-open) lowercase [2000, 4500) incl. 'y' at
# 3000, N-run [10000, 10500), 'RYKMSW' at [15000, 15006), 'B' 17777,
# 'D' 18888, 'H' 19999, 'V' 21111; chrC 3502 bp uppercase.
# (chrom, start, end, name, score, strand, label1, label2)
INTERVALS = [
    ("chrA", 0, 20, "iv01", "0", "+", 0, 1),          # chromosome start
    ("chrA", 100, 120, "iv02", "0", "-", 1, 0),
    ("chrA", 19980, 20000, "iv03", ".", "+", 1, 1),   # ends at chromosome end
    ("chrB", 1995, 2007, "iv04", "5", "-", 0, 0),     # enters soft-masked run
    ("chrB", 2995, 3006, "iv05", "0", "-", 1, 0),     # lowercase + 'y', odd length
    ("chrB", 4495, 4505, "iv06", "0", "+", 0, 1),     # leaves soft-masked run
    ("chrB", 9995, 10007, "iv07", "0", "-", 1, 1),    # enters N run
    ("chrB", 10490, 10510, "iv08", "0", ".", 0, 0),   # leaves N run, strand '.'
    ("chrB", 14997, 15009, "iv09", "0", "-", 1, 0),   # RYKMSW
    ("chrB", 17770, 17785, "iv10", "0", "+", 0, 1),   # B
    ("chrB", 18880, 18897, "iv11", "0", "-", 1, 1),   # D, odd length
    ("chrB", 19990, 20010, "iv12", "0", "+", 0, 0),   # H
    ("chrB", 21105, 21118, "iv13", "0", "-", 1, 0),   # V
    ("chrC", 3480, 3502, "iv14", "0", "-", 0, 1),     # ends at chromosome end
]

EDGE_INTERVALS = [
    ("chrC", 3495, 3502),   # last 7 bp of chrC (valid; resize 20 -> past end)
    ("chrC", 3495, 3510),   # crosses the end of chrC
    ("chrC", 3502, 3510),   # starts exactly at the end of chrC
    ("chrC", 3600, 3610),   # wholly past the end of chrC
    ("chrA", 0, 6),         # valid; resize 20 -> negative start
    ("chrA", 5, 5),         # zero length
    ("chrZ", 0, 10),        # chromosome not in the FASTA
]


def bed_lines():
    bed3 = ["%s\t%d\t%d\t%d\t%d" % (c, s, e, l1, l2)
            for c, s, e, n, sc, st, l1, l2 in INTERVALS]
    bed6 = ["%s\t%d\t%d\t%s\t%s\t%s\t%d\t%d" % iv for iv in INTERVALS]
    nochr = [l[3:] for l in bed3]
    edge = ["%s\t%d\t%d" % iv for iv in EDGE_INTERVALS]
    return {
        "intervals.bed": bed3,
        "intervals_strand.bed": bed6,
        "intervals_nochr.bed": nochr,
        "intervals_edge.bed": edge,
    }


# name -> (dataloader class name, BED file, kwargs, note)
CASES = [
    ("seq_defaults", "SeqIntervalDl", "intervals.bed", {},
     "no resizing: examples have their BED length, so batching fails"),
    ("seq_resize20", "SeqIntervalDl", "intervals.bed", {"auto_resize_len": 20}, ""),
    ("seq_resize15", "SeqIntervalDl", "intervals.bed", {"auto_resize_len": 15},
     "odd target length"),
    ("seq_strand_resize16", "SeqIntervalDl", "intervals_strand.bed",
     {"use_strand": True, "auto_resize_len": 16},
     "'-' rows reverse-complemented; '+' and '.' rows not"),
    ("seq_axis0", "SeqIntervalDl", "intervals.bed", {"alphabet_axis": 0},
     "(4, L)"),
    ("seq_axis0_dummy1_resize20", "SeqIntervalDl", "intervals.bed",
     {"alphabet_axis": 0, "dummy_axis": 1, "auto_resize_len": 20,
      "dtype": "np.float32"},
     "(4, 1, L) as DeepSEA/predict and CpGenie use it"),
    ("seq_axis0_dummy2_resize20", "SeqIntervalDl", "intervals.bed",
     {"alphabet_axis": 0, "dummy_axis": 2, "auto_resize_len": 20,
      "dtype": "np.float32"},
     "(4, L, 1) as Basset uses it"),
    ("seq_axis2_dummy0_resize20", "SeqIntervalDl", "intervals.bed",
     {"alphabet_axis": 2, "dummy_axis": 0, "auto_resize_len": 20},
     "(1, L, 4) as epidermal_basset uses it"),
    ("seq_dtype_int_label_int", "SeqIntervalDl", "intervals.bed",
     {"dtype": "int", "label_dtype": "int"},
     "dtype=int also turns the 0.25 of N into 0"),
    ("seq_ignore_targets", "SeqIntervalDl", "intervals.bed",
     {"ignore_targets": True, "auto_resize_len": 20}, ""),
    ("seq_alphabet_AGCT_resize20", "SeqIntervalDl", "intervals.bed",
     {"alphabet": "AGCT", "auto_resize_len": 20},
     "alphabet other than ACGT takes the dict-based encoder: any character "
     "outside the alphabet and N raises KeyError"),
    ("seq_nochr", "SeqIntervalDl", "intervals_nochr.bed", {},
     "BED names A/B/C: num_chr_fasta=False prepends 'chr'"),
    ("seq_edge_resize20", "SeqIntervalDl", "intervals_edge.bed",
     {"auto_resize_len": 20}, "chromosome ends: silent truncation"),
    ("str_defaults", "StringSeqIntervalDl", "intervals.bed", {}, ""),
    ("str_force_upper_false", "StringSeqIntervalDl", "intervals.bed",
     {"force_upper": False}, ""),
    ("str_strand_force_upper_false", "StringSeqIntervalDl", "intervals_strand.bed",
     {"use_strand": True, "force_upper": False},
     "reverse complement keeps case and complements IUPAC codes"),
    ("str_nochr", "StringSeqIntervalDl", "intervals_nochr.bed", {}, ""),
    ("str_num_chr_fasta_true", "StringSeqIntervalDl", "intervals.bed",
     {"num_chr_fasta": True},
     "PANDAS-DEPENDENT: kipoiseq strips 'chr' with str.replace('^chr', ''); "
     "pandas < 2 treats it as a regex (names become A/B/C, every example "
     "raises FetchError), pandas >= 2 as a literal (names unchanged, the "
     "flag has no effect)"),
    ("str_edge", "StringSeqIntervalDl", "intervals_edge.bed", {}, ""),
    ("str_bed6_without_use_strand", "StringSeqIntervalDl", "intervals_strand.bed", {},
     "without use_strand only 3 BED columns are read; columns 4.. are labels "
     "parsed as float64, so the name column fails in the constructor"),
    ("str_bed6_without_use_strand_ignore_targets", "StringSeqIntervalDl",
     "intervals_strand.bed", {"ignore_targets": True},
     "ignore_targets does not help: the labels are parsed before it is looked at"),
    ("str_edge_resize20", "StringSeqIntervalDl", "intervals_edge.bed",
     {"auto_resize_len": 20}, "negative start wraps to 2**32 + start"),
]


def versions():
    import kipoi
    import kipoiseq
    import pandas
    import pybedtools
    import pyfaidx
    return {
        "python": sys.version.split()[0],
        "kipoiseq": kipoiseq.__version__,
        "kipoi": kipoi.__version__,
        "numpy": np.__version__,
        "pandas": pandas.__version__,
        "pyfaidx": pyfaidx.__version__,
        "pybedtools": pybedtools.__version__,
    }


def py(x):
    """numpy -> plain JSON-able Python."""
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, dict):
        return {k: py(v) for k, v in x.items()}
    return x


def err(e):
    return {"type": type(e).__name__, "message": str(e).strip().split("\n")[0]}


def example(ret, seq=None):
    inp = ret["inputs"]
    tg = ret["targets"]
    r = ret["metadata"]["ranges"]
    out = {"inputs": str(inp) if inp.dtype.kind == "U" else inp.tolist(),
           "inputs_shape": list(inp.shape),
           "inputs_dtype": inp.dtype.str if inp.dtype.kind == "U" else str(inp.dtype)}
    if seq is not None:
        out["seq"] = seq
    if isinstance(tg, np.ndarray):
        out["targets"] = tg.tolist()
        out["targets_dtype"] = str(tg.dtype)
    else:
        out["targets"] = py(tg)
        out["targets_dtype"] = None
    out["ranges"] = {k: py(r[k]) for k in ("chr", "start", "end", "id", "strand")}
    return out


def run_case(cls, bed, kwargs, fasta):
    res = {}
    try:
        dl = cls(bed, fasta, **kwargs)
    except Exception as e:  # noqa: BLE001 - recorded
        res["constructor_error"] = err(e)
        return res
    res["len"] = len(dl)
    exs = []
    for i in range(len(dl)):
        try:
            ret = dl[i]
            # SeqIntervalDl wraps a StringSeqIntervalDl: record the string too
            seq = str(dl.seq_dl[i]["inputs"]) if hasattr(dl, "seq_dl") else None
            exs.append(example(ret, seq))
        except Exception as e:  # noqa: BLE001 - recorded
            exs.append({"error": err(e)})
    res["examples"] = exs
    try:
        b = next(iter(dl.batch_iter(batch_size=len(dl), num_workers=0)))
        tg = b["targets"]
        res["batch"] = {"inputs_shape": list(np.asarray(b["inputs"]).shape),
                        "inputs_dtype": np.asarray(b["inputs"]).dtype.str,
                        "targets_shape": list(tg.shape) if isinstance(tg, np.ndarray) else py(tg)}
    except Exception as e:  # noqa: BLE001 - recorded
        res["batch"] = {"error": err(e)}
    return res


def semantics():
    from kipoiseq.transforms import ReorderedOneHot
    chars = "ACGTNacgtnRYKMSWBDHVryUX-."
    enc = {}
    for label, kw in [("default (alphabet ACGT, dtype None)", {}),
                      ("dtype int", {"dtype": "int"}),
                      ("alphabet AGCT (dict-based path)", {"alphabet": "AGCT"})]:
        t = ReorderedOneHot(**kw)
        row = {}
        for c in chars:
            try:
                a = t(c)
                row[c] = {"value": a[0].tolist(), "dtype": str(a.dtype)}
            except Exception as e:  # noqa: BLE001 - recorded
                row[c] = {"error": err(e)}
        enc[label] = row
    shapes = []
    seq = "ACGTNACGTNACGTNACGTN"
    for aa in (0, 1, 2):
        for da in (None, 0, 1, 2):
            ent = {"alphabet_axis": aa, "dummy_axis": da}
            try:
                t = ReorderedOneHot(alphabet_axis=aa, dummy_axis=da)
                ent["shape_L20"] = list(t(seq).shape)
                ent["get_output_shape_L20"] = list(t.get_output_shape(20))
            except Exception as e:  # noqa: BLE001 - recorded
                ent["error"] = err(e) if str(e) else {"type": type(e).__name__,
                                                       "message": ""}
            shapes.append(ent)
    return {"one_hot_single_characters": enc, "axis_combinations": shapes}


# --- JSON writer: dicts indented, lists of scalars / list rows inline -------
def dump(obj, ind=0):
    sp = "  " * ind
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = ["%s  %s: %s" % (sp, json.dumps(k), dump(v, ind + 1)) for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + sp + "}"
    if isinstance(obj, list):
        if all(not isinstance(x, (dict, list)) for x in obj):
            return json.dumps(obj)
        if all(isinstance(x, list) for x in obj) and all(
                all(not isinstance(y, (dict, list)) for y in x) for x in obj):
            return "[" + ", ".join(json.dumps(x) for x in obj) + "]"
        if all(isinstance(x, list) for x in obj):
            return "[" + ", ".join(dump(x, ind + 1) for x in obj) + "]"
        return "[\n" + ",\n".join(sp + "  " + dump(x, ind + 1) for x in obj) + "\n" + sp + "]"
    return json.dumps(obj)


def write_json(path, obj):
    with open(path, "w") as fh:
        fh.write(dump(obj) + "\n")


def main(out_dir):
    warnings.simplefilter("ignore")
    import kipoiseq.dataloaders as kdl
    os.makedirs(out_dir, exist_ok=True)
    for name, lines in bed_lines().items():
        with open(os.path.join(out_dir, name), "w") as fh:
            fh.write("\n".join(lines) + "\n")
    gen = versions()
    gen["script"] = "tests/data/scripts/make_kipoiseq_expected.py"
    tmp = tempfile.mkdtemp(prefix="kipoiseq_fix_")
    try:
        fasta = os.path.join(tmp, "multi.fa")
        shutil.copyfile(os.path.join(DATA, "multi.fa"), fasta)
        for name, cls_name, bed, kwargs, note in CASES:
            res = run_case(getattr(kdl, cls_name), os.path.join(out_dir, bed), kwargs, fasta)
            obj = {"generator": gen, "dataloader": "kipoiseq.dataloaders." + cls_name,
                   "intervals_file": bed, "fasta_file": "multi.fa", "args": kwargs,
                   "note": note}
            obj.update(res)
            if "PANDAS-DEPENDENT" in note:
                # one file per behaviour; run the script under both pandas lines
                import pandas
                name += "_pandas1" if int(pandas.__version__.split(".")[0]) < 2 else "_pandas2plus"
            write_json(os.path.join(out_dir, "expected_%s.json" % name), obj)
            print(name, "ok" if "examples" in res else res)
        write_json(os.path.join(out_dir, "semantics.json"),
                   dict({"generator": gen}, **semantics()))
    finally:
        shutil.rmtree(tmp)


def bench(genome_fa, n=20000, length=1000, batch_size=32, kwargs=None):
    warnings.simplefilter("ignore")
    from kipoiseq.dataloaders import SeqIntervalDl
    tmp = tempfile.mkdtemp(prefix="kipoiseq_bench_")
    try:
        fa = os.path.join(tmp, "genome.fa")
        os.symlink(os.path.abspath(genome_fa), fa)
        if os.path.exists(genome_fa + ".fai"):
            shutil.copyfile(genome_fa + ".fai", fa + ".fai")  # newer mtime: no rebuild
        chroms = [l.split("\t")[:2] for l in open(fa + ".fai")]
        rng = random.Random(0)
        bed = os.path.join(tmp, "bench.bed")
        with open(bed, "w") as fh:
            for _ in range(n):
                c, size = rng.choice(chroms)
                s = rng.randrange(0, int(size) - length)
                fh.write("%s\t%d\t%d\t%d\n" % (c, s, s + length, rng.randrange(2)))
        t0 = time.perf_counter()
        dl = SeqIntervalDl(bed, fa, auto_resize_len=length, **(kwargs or {}))
        t1 = time.perf_counter()
        seen = 0
        for b in dl.batch_iter(batch_size=batch_size, num_workers=0):
            seen += b["inputs"].shape[0]
        t2 = time.perf_counter()
        print(json.dumps(dict(versions(), kwargs=kwargs or {}, n=seen, length=length, batch_size=batch_size,
                              construct_s=round(t1 - t0, 3), iterate_s=round(t2 - t1, 3),
                              examples_per_s=round(seen / (t2 - t1), 1))))
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--bench":
        bench(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 20000,
              kwargs=json.loads(sys.argv[4]) if len(sys.argv) > 4 else None)
    else:
        main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(DATA, "zoo", "kipoiseq"))
