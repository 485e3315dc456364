"""With torch installed (`cargo xtask test --torch`): tensors without copies, the
IterableDataset wrapper, and refused worker processes."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import biobatch  # noqa: E402
import biobatch.torch  # noqa: E402

from conftest import PEAKS  # noqa: E402


def generator(**kw):
    d = PEAKS
    return biobatch.PeakGenerator(
        d / "peaks.narrowPeak", d / "negatives.bed", d / "genome.fa",
        [[d / "signal.plus.bw", d / "signal.minus.bw"]],
        controls=[[d / "control.plus.bw", d / "control.minus.bw"]],
        random_state=2, batch_size=16, pin_memory=False, **kw,
    )


def test_the_generator_yields_torch_tensors_of_cherimoyas_dtypes():
    x, ctl, y, label = next(iter(generator()))
    assert (x.dtype, ctl.dtype, y.dtype, label.dtype) == (
        torch.int8, torch.float32, torch.float32, torch.int64
    )
    assert tuple(x.shape) == (16, 4, 2114)


def test_a_dataloader_over_the_wrapper_gives_the_same_batches():
    gen = generator()
    direct = [b[0].numpy().copy() for b in gen]
    gen.set_epoch(0)
    loader = torch.utils.data.DataLoader(
        biobatch.torch.IterableDataset(gen), batch_size=None, num_workers=0
    )
    wrapped = [b[0].numpy() for b in loader]
    assert len(direct) == len(wrapped) and all(np.array_equal(a, b) for a, b in zip(direct, wrapped))
    procs = torch.utils.data.DataLoader(
        biobatch.torch.IterableDataset(gen), batch_size=None, num_workers=1
    )
    with pytest.raises(RuntimeError, match="threads"):
        next(iter(procs))


def test_ranks_come_from_an_initialised_torch_distributed(tmp_path):
    import json
    import os
    import socket
    import subprocess
    import sys

    np.save(tmp_path / "ids.npy", np.arange(60, dtype=np.int64))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    script = (
        "import json, sys, torch.distributed as dist, biobatch\n"
        "r = int(sys.argv[1])\n"
        f"dist.init_process_group('gloo', init_method='tcp://127.0.0.1:{port}', rank=r, world_size=2)\n"
        f"ds = biobatch.ArrayDataset({str(tmp_path / 'ids.npy')!r}, batch_size=4, seed=3)\n"
        "ids = [int(v) for b in ds for v in b['inputs']['x']]\n"
        "print(json.dumps([ds.rank, ds.world_size, ids]))\n"
        "dist.destroy_process_group()\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE")}
    procs = [subprocess.Popen([sys.executable, "-c", script, str(r)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for r in (0, 1)]
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
    got = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
    assert [(g[0], g[1]) for g in got] == [(0, 2), (1, 2)]
    assert len(got[0][2]) == len(got[1][2]) == 30
    assert sorted(got[0][2] + got[1][2]) == list(range(60))
