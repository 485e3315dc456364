#!/usr/bin/env bash
# The prepared GPU check of the BPNet path, run on a lent GPU machine (no Rust toolchain
# there): `cargo xtask gpu-bundle` builds what it needs into .gpu/ here, then
#
#   run(command="bash xtask/device/gpu_check.sh", carry=[".gpu"], timeout_s=480)
#
# It lists the adapters; trains BPNet at bpnet-lite's default size (64 filters, 8 layers,
# in 2114, out 1000, batch 64) on the bundled example peaks for EPOCHS epochs on the GPU
# (Vulkan) and on the machine's CPUs; predicts the CPU-trained model's weights on both and
# compares them; and writes the figures to $OUT/summary.json (examples/s, the share of time
# the step waited for data, the time spent handing batches to the device, per epoch and
# device); trains the same on the GPU in f16 (mixed precision) beside it. With .gpu/wheels (the biobatch wheel, bpnet-lite, cherimoya) it also runs
# bpnet-lite's PyTorch BPNet on our loader for the same steps (xtask/gpu/bpnet_feed.py).
# Also runs on any machine with a Vulkan driver (Mesa's software one included), which is how
# it is checked before it travels.
set -uo pipefail
# At most 8 files come back from $OUT: everything is written to $W, and $OUT gets
# summary.json, log.txt and files.tar.gz (the rest).
OUT=${OUT:-/tmp/gpu-check-out}
EPOCHS=${EPOCHS:-4}
WORKERS=${WORKERS:-2}
W=/tmp/gpu-check-work
rm -rf "$W"
mkdir -p "$OUT" "$W"
log() { echo "[$(date +%T)] $*" | tee -a "$W/log.txt"; }
# BIN, SIZE and EPOCHS override the binary, the model's size and the epochs (a quick local
# run of the script's plumbing: BIN=target/debug/biobatch DEVICE=wgpu SIZE="--n-filters 8
# --n-layers 2 --in-window 400 --out-window 200" EPOCHS=1).
B=${BIN:-/tmp/biobatch}
if [ -z "${BIN:-}" ]; then
    if [ -f .gpu/biobatch.gz ]; then gzip -dc .gpu/biobatch.gz >"$B"; else cp .gpu/biobatch "$B"; fi
    chmod +x "$B"
fi

# The Vulkan loader (and, where the image lacks it, how to find NVIDIA's driver).
if [ -d .gpu/deb ] && ! ldconfig -p | grep -q libvulkan.so.1; then
    for f in .gpu/deb/*.deb; do dpkg -x "$f" /; done
    ldconfig
fi
if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ] \
    && ! ls /usr/share/vulkan/icd.d/*nvidia* /etc/vulkan/icd.d/*nvidia* >/dev/null 2>&1; then
    export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv >"$W/nvidia-smi.csv" 2>&1
nproc >"$W/nproc.txt"
"$B" devices | tee "$W/devices.json" || { log "biobatch devices failed"; exit 1; }

DEVICE=${DEVICE:-vulkan}
SIZE=${SIZE:---n-filters 64 --n-layers 8 --in-window 2114 --out-window 1000}
# shellcheck disable=SC2206
common=(--example $SIZE --batch-size 64 --workers "$WORKERS" --epochs "$EPOCHS" --patience 1000)
for dev in "$DEVICE" cpu; do
    log "training on $dev"
    rm -rf "/tmp/train-$dev"
    "$B" train bpnet "${common[@]}" --out "/tmp/train-$dev" --device "$dev" \
        >"$W/train-$dev.json" 2>"$W/train-$dev.log" || { log "training on $dev failed"; tail -5 "$W/train-$dev.log"; }
    cp "/tmp/train-$dev/model/history.json" "$W/history-$dev.json" 2>/dev/null
done
# Mixed precision on the GPU (f16 compute, f32 master weights): refused, by name, where the
# device has no f16 arithmetic.
log "training on $DEVICE in f16"
rm -rf /tmp/train-f16
"$B" train bpnet "${common[@]}" --out /tmp/train-f16 --device "$DEVICE" --precision f16 \
    >"$W/train-f16.json" 2>"$W/train-f16.log" || { log "f16 training failed"; tail -5 "$W/train-f16.log"; }
cp /tmp/train-f16/model/history.json "$W/history-f16.json" 2>/dev/null

# The CPU-trained weights, predicted on both devices.
if [ -d /tmp/train-cpu/model ]; then
    for dev in "$DEVICE" cpu; do
        log "predicting on $dev"
        "$B" predict bpnet --model /tmp/train-cpu/model \
            --peaks examples/data/peaks/peaks.narrowPeak --out "/tmp/pred-$dev.tsv" \
            --device "$dev" >"$W/predict-$dev.json" 2>"$W/predict-$dev.log" \
            || { log "prediction on $dev failed"; tail -5 "$W/predict-$dev.log"; }
    done
fi

if [ -d .gpu/wheels ]; then
    log "bpnet-lite (PyTorch) fed by biobatch"
    python3 -m pip install -q --no-index --no-deps --target /tmp/site .gpu/wheels/*.whl \
        && PYTHONPATH=/tmp/site timeout 180 python3 xtask/gpu/bpnet_feed.py examples/data/peaks 40 cuda biobatch \
        >"$W/torch.jsonl" 2>"$W/torch.log" || log "the PyTorch run failed"
fi

python3 - "$W" "$DEVICE" <<'PY'
import csv, json, os, sys
out, dev = sys.argv[1], sys.argv[2]
def load(p):
    try:
        return json.load(open(p))
    except Exception as e:
        return {"error": str(e)}
summary = {"device": dev, "adapters": load(f"{out}/devices.json")}
for d in (dev, "cpu", "f16"):
    h = load(f"{out}/history-{d}.json")
    summary[f"train_{d}"] = [
        {k: e.get(k) for k in ("epoch", "examples_per_s", "wait_share", "seconds",
                               "wait_seconds", "transfer_seconds", "train_loss")}
        | {"val_" + k: e.get("validation", {}).get(k)
           for k in ("loss", "profile_pearson", "count_pearson", "count_mse")}
        for e in h.get("epochs", [])
    ] or h
def table(p):
    with open(p) as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return rows
try:
    a, b = table(f"/tmp/pred-cpu.tsv"), table(f"/tmp/pred-{dev}.tsv")
    worst, n = 0.0, 0
    for ra, rb in zip(a, b):
        for k, v in ra.items():
            if k.startswith("preds/"):
                x, y = float(v), float(rb[k])
                worst = max(worst, abs(x - y) / (1 + abs(x)))
                n += 1
    summary["predictions"] = {"rows": len(a), "values": n, "max_rel_diff": worst,
                              "bound": 1e-3, "within": worst <= 1e-3 and len(a) == len(b) > 0}
except Exception as e:
    summary["predictions"] = {"error": str(e)}
t = f"{out}/torch.jsonl"
if os.path.exists(t):
    summary["pytorch"] = [json.loads(l) for l in open(t) if l.startswith("{")]
json.dump(summary, open(f"{out}/summary.json", "w"), indent=1)
print(json.dumps(summary["predictions"]))
for d in (dev, "cpu", "f16"):
    eps = summary[f"train_{d}"]
    if isinstance(eps, list) and eps:
        last = eps[-1]
        print(d, "ex/s", round(last["examples_per_s"] or 0), "wait", round(100 * (last["wait_share"] or 0), 2), "%",
              "transfer", round(last["transfer_seconds"] or 0, 3), "s")
PY
log done
cp "$W/summary.json" "$W/log.txt" "$OUT/" 2>/dev/null
tar czf "$OUT/files.tar.gz" -C "$W" .
