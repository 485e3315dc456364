"""End to end: a model trained by `biobatch train bpnet`, loaded into bpnet-lite from its
`model.safetensors`, fed by bpnet-lite's side of the world (pyfaidx one-hot, pyBigWig
controls), predicts what `biobatch predict bpnet` wrote.

    pip install bpnet-lite==1.1.0 safetensors pyarrow
    biobatch train bpnet --example
    biobatch predict bpnet --model bpnet-example/model \\
        --peaks examples/data/peaks/peaks.narrowPeak -o /tmp/pred.parquet
    python tests/data/scripts/check_bpnet_lite_predict.py bpnet-example/model /tmp/pred.parquet

Prints one JSON line: loci compared and the largest relative differences of the counts and
of the per-base profiles.
"""

import json
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pyBigWig
import pyfaidx
import torch
from bpnetlite import BPNet
from safetensors.torch import load_file


def one_hot(seq):
    x = np.zeros((4, len(seq)), dtype=np.float32)
    for i, b in enumerate("ACGT"):
        x[i] = np.frombuffer(seq.upper().encode(), dtype=np.uint8) == ord(b)
    return x


def main(model_dir, parquet):
    model_dir = Path(model_dir)
    cfg = json.loads((model_dir / "config.json").read_text())
    m, peaks = cfg["model"], cfg["peaks"]
    trim = (m["in_window"] - m["out_window"]) // 2
    model = BPNet(
        n_filters=m["n_filters"],
        n_layers=m["n_layers"],
        n_outputs=sum(m["tasks"]),
        n_control_tracks=m["control_tracks"],
        trimming=trim,
        verbose=False,
    ).eval()
    model.load_state_dict(load_file(model_dir / "model.safetensors"))
    fasta = pyfaidx.Fasta(peaks["fasta"], sequence_always_upper=True)
    controls = [pyBigWig.open(p) for group in peaks["controls"] for p in group]
    t = pq.read_table(parquet).to_pydict()
    n = len(t["chrom"])
    seqs, ctls = [], []
    for chrom, start in zip(t["chrom"], t["start"]):
        s, e = start - trim, start - trim + m["in_window"]
        seqs.append(one_hot(str(fasta[chrom][s:e])))
        ctls.append(np.nan_to_num(np.array([bw.values(chrom, s, e) for bw in controls])))
    with torch.no_grad():
        logits, log_counts = model(
            torch.tensor(np.array(seqs)), torch.tensor(np.array(ctls), dtype=torch.float32)
        )
    # One task of two tracks: a softmax over both strands' positions, times the counts.
    counts = np.maximum(np.exp(log_counts.numpy()[:, 0]) - 1.0, 0.0)
    p = torch.softmax(logits.reshape(n, -1), dim=-1).numpy().reshape(logits.shape)
    profiles = p * counts[:, None, None]
    ours_counts = np.array(t["counts_0"])
    ours_profiles = np.stack([np.array(t["profile_0"]), np.array(t["profile_1"])], axis=1)
    rel = lambda a, b: float(np.max(np.abs(a - b) / (1.0 + np.abs(b))))
    print(
        json.dumps(
            {
                "loci": n,
                "max_rel_diff_counts": rel(counts, ours_counts),
                "max_rel_diff_profiles": rel(profiles, ours_profiles),
                "mean_counts": float(ours_counts.mean()),
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
