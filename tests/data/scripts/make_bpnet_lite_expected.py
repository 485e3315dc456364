"""Writes tests/data/bpnet_lite: two small bpnet-lite BPNet models (random weights, seeded),
their state_dicts as SafeTensors, the matching biobatch model settings, and inputs with the
outputs bpnet-lite's own forward gives for them.

    pip install bpnet-lite==1.1.0 safetensors   # torch comes with bpnet-lite
    python tests/data/scripts/make_bpnet_lite_expected.py tests/data/bpnet_lite

With --check MODEL_DIR CASE.json it instead loads weights that biobatch wrote
(MODEL_DIR/model.safetensors + config.json) into bpnet-lite, runs CASE.json's inputs and
prints the largest difference from CASE.json's outputs. The test writes such directories:

    BPNET_LITE_EXPORT=/tmp/rt cargo test -p biobatch-bpnet --test integration bpnet_lite
    python tests/data/scripts/make_bpnet_lite_expected.py --check \
        /tmp/rt/with_controls tests/data/bpnet_lite/with_controls.json
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch
from bpnetlite import BPNet
from safetensors.torch import load_file, save_file

CASES = {
    # name: (n_filters, n_layers, n_control_tracks, in_window, trimming)
    "with_controls": (8, 3, 2, 250, 60),
    "no_controls": (6, 2, 0, 200, 40),
}


def inputs(rng, n, controls, length):
    seq = np.zeros((n, 4, length), dtype=np.float32)
    bases = rng.integers(0, 5, size=(n, length))  # 4 = N: a column of zeros
    for b in range(4):
        seq[:, b, :][bases == b] = 1.0
    ctl = rng.poisson(2.0, size=(n, controls, length)).astype(np.float32)
    return seq, ctl


def main(out):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for i, (name, (filters, layers, controls, length, trim)) in enumerate(CASES.items()):
        torch.manual_seed(i)
        model = BPNet(
            n_filters=filters,
            n_layers=layers,
            n_outputs=2,
            n_control_tracks=controls,
            trimming=trim,
            verbose=False,
        ).eval()
        save_file(model.state_dict(), out / f"{name}.safetensors")
        settings = {
            "n_filters": filters,
            "n_layers": layers,
            "first_kernel": 21,
            "residual_kernel": 3,
            "profile_kernel": 75,
            "in_window": length,
            "out_window": length - 2 * trim,
            "tasks": [2],
            "control_tracks": controls,
        }
        rng = np.random.default_rng(100 + i)
        seq, ctl = inputs(rng, 3, controls, length)
        with torch.no_grad():
            x_ctl = torch.from_numpy(ctl) if controls else None
            profile, counts = model(torch.from_numpy(seq), x_ctl)
        expected = {
            "model": settings,
            "seq": seq.ravel().tolist(),
            "controls": ctl.ravel().tolist(),
            "profile_logits": profile.numpy().ravel().tolist(),
            "profile_shape": list(profile.shape),
            "log_counts": counts.numpy().ravel().tolist(),
            "bpnet_lite": "1.1.0",
            "torch": torch.__version__,
        }
        (out / f"{name}.json").write_text(json.dumps(expected))


def check(model_dir, ours_json):
    model_dir = Path(model_dir)
    cfg = json.loads((model_dir / "config.json").read_text())
    cfg = cfg.get("model", cfg)
    ours = json.loads(Path(ours_json).read_text())
    trim = (cfg["in_window"] - cfg["out_window"]) // 2
    model = BPNet(
        n_filters=cfg["n_filters"],
        n_layers=cfg["n_layers"],
        n_outputs=sum(cfg["tasks"]),
        n_control_tracks=cfg["control_tracks"],
        trimming=trim,
        verbose=False,
    ).eval()
    model.load_state_dict(load_file(model_dir / "model.safetensors"))
    n = len(ours["seq"]) // (4 * cfg["in_window"])
    seq = torch.tensor(ours["seq"], dtype=torch.float32).reshape(n, 4, -1)
    ctl = torch.tensor(ours["controls"], dtype=torch.float32).reshape(
        n, cfg["control_tracks"], cfg["in_window"]
    )
    with torch.no_grad():
        profile, counts = model(seq, ctl if cfg["control_tracks"] else None)
    dp = np.abs(profile.numpy().ravel() - np.array(ours["profile_logits"])).max()
    dc = np.abs(counts.numpy().ravel() - np.array(ours["log_counts"])).max()
    print(json.dumps({"examples": n, "max_abs_diff_profile": float(dp), "max_abs_diff_counts": float(dc)}))


if __name__ == "__main__":
    if sys.argv[1] == "--check":
        check(sys.argv[2], sys.argv[3])
    else:
        main(sys.argv[1])
