"""Write expected.tsv: the model's predictions on example/intervals.bed, made the way
`kipoi predict` makes them.

Run from this directory, in an environment with kipoi, kipoiseq and onnxruntime:

    python make_expected.py

Inputs come from kipoiseq's SeqIntervalDl with the arguments of dataloader.yaml,
predictions from onnxruntime, and the file is written by Kipoi's TsvBatchWriter from
batches {"metadata": ..., "preds": ...}.

kipoiseq evaluates a string `dtype` as a Python expression in a module that imports
numpy as `np`, so the dtype is spelled `np.float32` (plain `float32` raises a NameError).

The FASTA file is copied to a temporary directory first, so that pyfaidx never writes an
index next to the bundled data.

Also cross-checks the encoder of make_model.py (used for training) against kipoiseq: the
one-hot arrays must be identical and the predictions must agree to 1e-5.
"""

import os
import shutil
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

sys.dont_write_bytecode = True  # no __pycache__ next to the scripts
import make_model  # noqa: E402  (numpy-only part: the encoder)

BED = "example/intervals.bed"
FASTA = "../../data/peaks/genome.fa"
OUT = "expected.tsv"


def main():
    os.chdir(HERE)
    import onnxruntime as ort
    from kipoi.writers import TsvBatchWriter
    from kipoiseq.dataloaders import SeqIntervalDl

    sess = ort.InferenceSession("model.onnx", providers=["CPUExecutionProvider"])

    with tempfile.TemporaryDirectory() as tmp:
        fasta = os.path.join(tmp, "genome.fa")
        shutil.copyfile(FASTA, fasta)
        dl = SeqIntervalDl(intervals_file=BED, fasta_file=fasta, auto_resize_len=500,
                           alphabet_axis=0, dtype="np.float32")
        if os.path.exists(OUT):
            os.remove(OUT)
        writer = TsvBatchWriter(OUT)
        inputs, preds_all, ranges = [], [], []
        for batch in dl.batch_iter(batch_size=16):
            x = batch["inputs"]
            assert x.dtype == np.float32 and x.shape[1:] == (4, 500), (x.dtype, x.shape)
            preds = sess.run(["prob"], {"seq": x})[0]
            writer.batch_write({"metadata": batch["metadata"], "preds": preds})
            inputs.append(x)
            preds_all.append(preds)
            r = batch["metadata"]["ranges"]
            ranges += list(zip(r["chr"], r["start"], r["end"]))
        writer.close()

    x_kipoiseq = np.concatenate(inputs)
    p_kipoiseq = np.concatenate(preds_all)

    # encoder cross-check: make_model.py's own windows and one-hot encoding
    genome = make_model.read_fasta(FASTA)
    intervals = make_model.read_bed3(BED)
    x_own = make_model.encode_intervals(genome, intervals)
    windows = [(c,) + make_model.window(s, e) for c, s, e in intervals]
    assert [(str(c), int(s), int(e)) for c, s, e in ranges] == windows, "windows differ"
    n_diff = int((x_own != x_kipoiseq).sum())
    p_own = sess.run(["prob"], {"seq": x_own})[0]
    diff = float(np.abs(p_own - p_kipoiseq).max())
    print(f"encoder cross-check on {len(x_own)} windows: {n_diff} differing one-hot entries, "
          f"max |pred diff| {diff:.2e}")
    assert n_diff == 0 and diff < 1e-5

    with open(OUT) as fh:
        header = fh.readline().rstrip("\n").split("\t")
        n_rows = sum(1 for _ in fh)
    print(f"wrote {OUT}: {n_rows} rows; columns: {header}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
