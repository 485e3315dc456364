"""Train the peak CNN on the bundled example data and export it to ONNX.

Run from this directory:

    python make_model.py

Writes `model.onnx` and `example/intervals.bed`. Deterministic: fixed seeds, CPU only,
two threads.

The windows and the one-hot encoding follow kipoiseq's `SeqIntervalDl` with
`auto_resize_len=500, alphabet_axis=0, dtype="float32"`:

* an interval [s, e) is centred at c = (s + e) // 2 and resized to [c - 250, c + 250);
  only BED columns 1-3 are used (the narrowPeak summit column is ignored, as SeqIntervalDl
  ignores it);
* the sequence is upper-cased, then A, C, G, T are one-hot in channels 0-3, N is 0.25 in
  all four channels, and any other byte is all zeros; the array has shape (4, 500).

The encoder (`read_fasta`, `window`, `one_hot`, `read_bed3`) only needs numpy, so that
`make_expected.py` can import it from an environment without torch; torch, onnx and
onnxruntime are imported inside the functions that use them.
"""

import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.normpath(os.path.join(HERE, "..", "..", "data", "peaks"))
FASTA = os.path.join(DATA, "genome.fa")
PEAKS = os.path.join(DATA, "peaks.narrowPeak")
NEGATIVES = os.path.join(DATA, "negatives.bed")

SEQ_LEN = 500
TRAIN_CHROMS = ("chr1", "chr3")
VALID_CHROM = "chr2"
SEED = 1
EPOCHS = 60
BATCH_SIZE = 32
OPSET = 13
N_EXAMPLE_PER_CLASS = 20

# --------------------------------------------------------------------------------------
# Encoder (numpy only)
# --------------------------------------------------------------------------------------

_TABLE = np.zeros((256, 4), dtype=np.float32)
for _i, _b in enumerate(b"ACGT"):
    _TABLE[_b, _i] = 1.0
_TABLE[ord("N"), :] = 0.25


def read_fasta(path):
    """Return {name: bytes} for a FASTA file (name = first word of the header)."""
    seqs = {}
    name, parts = None, []
    with open(path, "rb") as fh:
        for line in fh:
            line = line.rstrip(b"\r\n")
            if line.startswith(b">"):
                if name is not None:
                    seqs[name] = b"".join(parts)
                name, parts = line[1:].split()[0].decode("ascii"), []
            elif line:
                parts.append(line)
    if name is not None:
        seqs[name] = b"".join(parts)
    return seqs


def read_bed3(path):
    """Return a list of (chrom, start, end) from the first three columns of a BED file."""
    rows = []
    with open(path) as fh:
        for line in fh:
            if not line.strip() or line.startswith(("#", "track", "browser")):
                continue
            f = line.rstrip("\n").split("\t")
            rows.append((f[0], int(f[1]), int(f[2])))
    return rows


def window(start, end, width=SEQ_LEN):
    """kipoiseq's resize_interval(..., anchor='center')."""
    centre = (start + end) // 2
    return centre - width // 2, centre + width // 2 + width % 2


def one_hot(seq):
    """One-hot encode bytes as (4, len) float32, channels A, C, G, T."""
    codes = np.frombuffer(seq.upper(), dtype=np.uint8)
    return np.ascontiguousarray(_TABLE[codes].T)


def encode_intervals(genome, intervals, width=SEQ_LEN):
    """Encode the centred windows of (chrom, start, end) intervals as (n, 4, width)."""
    out = np.empty((len(intervals), 4, width), dtype=np.float32)
    for i, (chrom, s, e) in enumerate(intervals):
        ws, we = window(s, e, width)
        assert 0 <= ws and we <= len(genome[chrom]), (chrom, s, e)
        out[i] = one_hot(genome[chrom][ws:we])
    return out


def inside(genome, chrom, s, e, width=SEQ_LEN):
    ws, we = window(s, e, width)
    return chrom in genome and ws >= 0 and we <= len(genome[chrom])


def auroc(labels, scores):
    """Area under the ROC curve (Mann-Whitney U with average ranks for ties)."""
    labels = np.asarray(labels).astype(bool)
    scores = np.asarray(scores, dtype=np.float64)
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    ranks = np.empty(len(scores), dtype=np.float64)
    i = 0
    while i < len(scores):
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    n_pos, n_neg = labels.sum(), (~labels).sum()
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


# --------------------------------------------------------------------------------------
# Model and training (torch)
# --------------------------------------------------------------------------------------


def build_model():
    import torch
    from torch import nn

    class PeakCNN(nn.Module):
        """(batch, 4, 500) one-hot DNA -> (batch, 1) peak probability."""

        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv1d(4, 16, kernel_size=15)
            self.pool = nn.MaxPool1d(4)
            self.conv2 = nn.Conv1d(16, 16, kernel_size=7)
            self.fc = nn.Linear(16, 1)

        def logits(self, x):
            x = self.pool(torch.relu(self.conv1(x)))
            x = torch.relu(self.conv2(x))
            x = torch.amax(x, dim=2)  # global max pooling over positions
            return self.fc(x)

        def forward(self, x):
            return torch.sigmoid(self.logits(x))

    return PeakCNN()


def revcomp(x):
    """Reverse complement of one-hot (n, 4, L) arrays with channels A, C, G, T."""
    return x.flip(1).flip(2)


def train(x_train, y_train, x_valid, y_valid):
    import torch

    torch.manual_seed(SEED)
    model = build_model()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3, weight_decay=1e-4)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    gen = torch.Generator().manual_seed(SEED)
    xt = torch.from_numpy(x_train)
    yt = torch.from_numpy(y_train.astype(np.float32)).unsqueeze(1)
    xv = torch.from_numpy(x_valid)
    for epoch in range(1, EPOCHS + 1):
        model.train()
        perm = torch.randperm(len(xt), generator=gen)
        total = 0.0
        for k in range(0, len(perm), BATCH_SIZE):
            idx = perm[k:k + BATCH_SIZE]
            xb, yb = xt[idx], yt[idx]
            # random reverse-complement augmentation
            flip = torch.rand(len(idx), generator=gen) < 0.5
            xb = torch.where(flip[:, None, None], revcomp(xb), xb)
            opt.zero_grad()
            loss = loss_fn(model.logits(xb), yb)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        if epoch % 10 == 0 or epoch == EPOCHS:
            model.eval()
            with torch.no_grad():
                pv = model(xv).numpy()[:, 0]
            print(f"epoch {epoch:3d}  train loss {total / len(xt):.4f}  "
                  f"valid AUROC {auroc(y_valid, pv):.4f}", flush=True)
    model.eval()
    return model


def export(model, path):
    import torch
    import onnx

    dummy = torch.zeros(2, 4, SEQ_LEN)
    torch.onnx.export(
        model, (dummy,), path,
        input_names=["seq"], output_names=["prob"],
        dynamic_axes={"seq": {0: "batch"}, "prob": {0: "batch"}},
        opset_version=OPSET, do_constant_folding=True, dynamo=False,
    )
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    return m


def main():
    import torch

    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)
    np.random.seed(SEED)

    genome = read_fasta(FASTA)
    pos = [r for r in read_bed3(PEAKS) if inside(genome, *r)]
    neg = [r for r in read_bed3(NEGATIVES) if inside(genome, *r)]
    print(f"windows inside their chromosome: {len(pos)} peaks, {len(neg)} negatives")

    def split(chroms):
        rows = [r for r in pos if r[0] in chroms] + [r for r in neg if r[0] in chroms]
        y = np.array([1] * sum(r[0] in chroms for r in pos)
                     + [0] * sum(r[0] in chroms for r in neg), dtype=np.int64)
        return encode_intervals(genome, rows), y

    x_train, y_train = split(TRAIN_CHROMS)
    x_valid, y_valid = split((VALID_CHROM,))
    print(f"train ({'+'.join(TRAIN_CHROMS)}): {len(y_train)} windows, {y_train.sum()} peaks; "
          f"valid ({VALID_CHROM}): {len(y_valid)} windows, {y_valid.sum()} peaks")

    model = train(x_train, y_train, x_valid, y_valid)
    with torch.no_grad():
        p_valid = model(torch.from_numpy(x_valid)).numpy()[:, 0]
    val_auroc = auroc(y_valid, p_valid)
    print(f"validation AUROC ({VALID_CHROM}): {val_auroc:.4f}")

    onnx_path = os.path.join(HERE, "model.onnx")
    m = export(model, onnx_path)
    print(f"wrote {onnx_path}: {os.path.getsize(onnx_path)} bytes, opset "
          f"{[o.version for o in m.opset_import if o.domain in ('', 'ai.onnx')][0]}, ops "
          f"{[n.op_type for n in m.graph.node]}")

    # onnxruntime must agree with torch
    import onnxruntime as ort

    sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    p_ort = sess.run(["prob"], {"seq": x_valid})[0][:, 0]
    diff = float(np.abs(p_ort - p_valid).max())
    print(f"onnxruntime vs torch on the {len(p_valid)} validation windows: max |diff| {diff:.2e}")
    assert diff < 1e-5, diff

    # example intervals: 20 peaks and 20 negatives from chr2, original BED coordinates
    rng = np.random.RandomState(SEED)
    p2 = [r for r in pos if r[0] == VALID_CHROM]
    n2 = [r for r in neg if r[0] == VALID_CHROM]
    pick_p = [p2[i] for i in sorted(rng.choice(len(p2), N_EXAMPLE_PER_CLASS, replace=False))]
    pick_n = [n2[i] for i in sorted(rng.choice(len(n2), N_EXAMPLE_PER_CLASS, replace=False))]
    rows = sorted([r + (1,) for r in pick_p] + [r + (0,) for r in pick_n])
    bed = os.path.join(HERE, "example", "intervals.bed")
    os.makedirs(os.path.dirname(bed), exist_ok=True)
    with open(bed, "w") as fh:
        for chrom, s, e, label in rows:
            fh.write(f"{chrom}\t{s}\t{e}\t{label}\n")
    with torch.no_grad():
        p_ex = model(torch.from_numpy(encode_intervals(genome, [r[:3] for r in rows]))).numpy()[:, 0]
    print(f"wrote {bed}: {len(rows)} intervals; AUROC on them {auroc([r[3] for r in rows], p_ex):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
