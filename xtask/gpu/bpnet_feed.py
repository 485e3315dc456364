"""Trains bpnet-lite's BPNet for a fixed number of steps fed once by cherimoya's
PeakGenerator and once by biobatch's, and reports examples/s and the share of time the
training loop waited for data. Meant for a GPU machine (the wheel from `cargo xtask wheel`
installed beside torch and cherimoya); runs on the CPU too, to check the script.

Usage: python bpnet_feed.py DATA_DIR STEPS DEVICE [LOADERS]

DATA_DIR is the bench dataset (`cargo xtask gen-data --scale bench`); DEVICE is `cuda` or
`cpu`; LOADERS is a comma list of `cherimoya` and `biobatch` (default both). Settings: in 2114,
out 1000, jitter 128, negative ratio 0.33, batch 64, random_state 1, stranded signal and
control pairs, the default BPNet (64 filters, 8 layers), Adam 1e-3; cherimoya's DataLoader
with 4 worker processes and pin_memory on a GPU, biobatch with 4 threads. The first 5 steps
are warm-up (not timed). Prints one JSON line per loader.
"""
import json
import os
import sys
import time


def run(name, data, steps, device):
    import torch
    from bpnetlite import BPNet

    p = lambda f: os.path.join(data, f)
    common = dict(
        peaks=p("peaks.narrowPeak"), negatives=p("negatives.bed"), sequences=p("genome.fa"),
        signals=[[p("signal.plus.bw"), p("signal.minus.bw")]],
        controls=[[p("control.plus.bw"), p("control.minus.bw")]],
        in_window=2114, out_window=1000, max_jitter=128, negative_ratio=0.33, batch_size=64,
        random_state=1, pin_memory=device == "cuda", num_workers=4,
    )
    t0 = time.perf_counter()
    if name == "cherimoya":
        from cherimoya.io import PeakGenerator
    else:
        from biobatch import PeakGenerator
    loader = PeakGenerator(**common)
    setup_s = time.perf_counter() - t0

    torch.manual_seed(0)
    model = BPNet(n_filters=64, n_layers=8, n_outputs=2, n_control_tracks=2, trimming=557,
                  verbose=False).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    warmup, done, examples = 5, 0, 0
    wait = busy = 0.0
    it = iter(loader)
    while done < steps + warmup:
        t = time.perf_counter()
        try:
            batch = next(it)
        except StopIteration:
            it = iter(loader)
            continue
        X, X_ctl, y = (b.to(device, non_blocking=True) for b in batch[:3])
        t_data = time.perf_counter()
        y_logits, y_logcounts = model(X.float(), X_ctl)
        profile = torch.nn.functional.log_softmax(y_logits.reshape(len(y), -1), dim=-1)
        loss = -(profile * y.reshape(len(y), -1)).sum(-1).mean()
        loss = loss + ((y_logcounts.squeeze(-1) - torch.log1p(y.sum(dim=(1, 2)))) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sync()
        t_end = time.perf_counter()
        if done >= warmup:
            wait += t_data - t
            busy += t_end - t_data
            examples += len(y)
        done += 1
    total = wait + busy
    return {
        "case": f"bpnet_fed_by_{name}", "device": device, "steps": steps, "setup_s": setup_s,
        "examples_per_s": examples / total, "data_wait_share": wait / total,
        "wait_s": wait, "compute_s": busy, "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name(0) if device == "cuda" else None,
    }


def main():
    data, steps, device = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    loaders = sys.argv[4].split(",") if len(sys.argv) > 4 else ["cherimoya", "biobatch"]
    for name in loaders:
        print(json.dumps(run(name, data, steps, device)), flush=True)


if __name__ == "__main__":
    main()
