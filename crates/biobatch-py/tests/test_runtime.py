"""How batches cross into Python: no copies, buffers back to the pool, the GIL released
while waiting, Ctrl-C, worker failures, ranks."""

import gc
import json
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import biobatch
from biobatch import _native


def test_leaves_view_the_rust_buffer_and_the_pool_gets_it_back(example_peaks):
    ds = biobatch.PeakDataset(**example_peaks, num_workers=0)
    loader = ds._loader
    batches = loader.epoch(0)
    buf = next(batches)
    tree = buf.tree()
    seq = tree["inputs"]["seq"]
    assert seq.base is buf, "the owner of the memory is the batch buffer"
    assert not seq.flags["OWNDATA"]
    again = buf.array("inputs/seq")
    assert np.shares_memory(seq, again), "two views of one buffer"
    seq[0, 0, 0] ^= 1
    assert again[0, 0, 0] == seq[0, 0, 0]

    before = loader.pooled_buffers
    del buf, again
    gc.collect()
    assert loader.pooled_buffers == before, "a live view keeps the buffer"
    del tree, seq
    gc.collect()
    assert loader.pooled_buffers == before + 1, "the last view gone, the buffer is pooled"
    # The next batch reuses it: no new buffer.
    nxt = next(batches)
    assert loader.pooled_buffers == before
    del nxt


def test_next_releases_the_gil_while_it_waits():
    loader = _native.slow_test_loader(8, 4, 1, 300)
    count, stop = [0], threading.Event()

    def spin():
        while not stop.is_set():
            count[0] += 1

    t = threading.Thread(target=spin)
    t.start()
    try:
        start = count[0]
        x = [b.tree()["inputs"]["x"].tolist() for b in loader.epoch(0)]
    finally:
        stop.set()
        t.join()
    assert x == [[0.0, 1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0]]
    # Two batches of 300 ms each: a thread blocked on the GIL would count almost nothing.
    assert count[0] - start > 10_000, count[0] - start


def test_ctrl_c_interrupts_a_waiting_next_promptly():
    import signal

    # A process started in the background by a non-interactive shell (as CI may run us)
    # inherits SIGINT ignored, and Python then installs no handler: `interrupt_main` would do
    # nothing. Install Python's own handler for the test, as an interactive run has it.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        loader = _native.slow_test_loader(4, 2, 1, 5000)
        batches = loader.epoch(0)
        timer = threading.Timer(0.3, lambda: __import__("_thread").interrupt_main())
        t0 = time.perf_counter()
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            next(batches)
        assert time.perf_counter() - t0 < 2.0, "interrupted well before the 5 s batch"
        timer.cancel()
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize("workers", [0, 2])
def test_a_worker_failure_ends_the_iteration_with_its_error(workers):
    loader = _native.slow_test_loader(20, 4, workers, 1, fail_at=9)
    got = []
    with pytest.raises(ValueError, match="record 9 is unreadable") as e:
        for b in loader.epoch(0):
            got.append(b.index)
    assert isinstance(e.value, biobatch.BiobatchError)
    assert got == [0, 1], "the batches before the failing one, in order"


@pytest.mark.parametrize("workers", [0, 2])
def test_drain_runs_the_epoch_in_rust_and_counts_its_examples(example_peaks, workers):
    ds = biobatch.PeakDataset(**example_peaks, num_workers=workers)
    loader = ds._loader
    examples, seconds = loader.drain(3)
    assert examples == sum(
        b.tree()["inputs"]["seq"].shape[0] for b in loader.epoch(3)
    ), "every example of the epoch, counted once"
    assert examples == loader.num_items
    assert seconds > 0
    with pytest.raises(ValueError, match="record 9 is unreadable"):
        _native.slow_test_loader(20, 4, workers, 1, fail_at=9).drain(0)


def rank_ids(tmp_path, env_extra, seed="7"):
    script = (
        "import json, biobatch\n"
        f"ds = biobatch.ArrayDataset({str(tmp_path / 'ids.npy')!r}, batch_size=5, seed={seed})\n"
        "ids = [int(v) for b in ds for v in b['inputs']['x']]\n"
        "print(json.dumps([ds.rank, ds.world_size, ids]))\n"
    )
    env = dict(os.environ, **env_extra)
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    return p


def test_ranks_from_the_environment_get_disjoint_equal_shares(tmp_path):
    np.save(tmp_path / "ids.npy", np.arange(100, dtype=np.int64))
    shares = []
    for r in (0, 1):
        p = rank_ids(tmp_path, {"RANK": str(r), "WORLD_SIZE": "2"})
        assert p.returncode == 0, p.stderr
        rank, world, ids = json.loads(p.stdout)
        assert (rank, world) == (r, 2)
        shares.append(ids)
    assert len(shares[0]) == len(shares[1]) == 50
    assert not set(shares[0]) & set(shares[1])
    assert sorted(shares[0] + shares[1]) == list(range(100))

    p = rank_ids(tmp_path, {"RANK": "1", "WORLD_SIZE": "2"}, seed="None")
    assert p.returncode != 0
    assert "no seed was given" in p.stderr


def test_explicit_ranks_win_and_are_checked(tmp_path):
    np.save(tmp_path / "ids.npy", np.arange(10, dtype=np.int64))
    ds = biobatch.ArrayDataset(tmp_path / "ids.npy", seed=1, rank=1, world_size=2)
    assert (ds.rank, ds.world_size) == (1, 2)
    with pytest.raises(ValueError, match="rank 2 is not in 0..2"):
        biobatch.ArrayDataset(tmp_path / "ids.npy", seed=1, rank=2, world_size=2)
    with pytest.raises(ValueError, match="give both"):
        biobatch.ArrayDataset(tmp_path / "ids.npy", seed=1, rank=0)


def test_array_datasets_gather_npz_members_into_kipoi_batches(tmp_path):
    x = np.arange(60, dtype=np.float32).reshape(20, 3)
    y = np.arange(20, dtype=np.int64)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    ds = biobatch.ArrayDataset(tmp_path / "d.npz", targets=["y"], batch_size=6, shuffle=False)
    batches = list(ds.batch_iter())
    assert [b["inputs"]["x"].shape[0] for b in batches] == [6, 6, 6, 2]
    got_x = np.concatenate([b["inputs"]["x"] for b in batches])
    got_y = np.concatenate([b["targets"]["y"] for b in batches])
    assert np.array_equal(got_x, x) and np.array_equal(got_y, y)
    shuffled = biobatch.ArrayDataset(tmp_path / "d.npz", targets=["y"], batch_size=6, seed=3)
    order = np.concatenate([b["targets"]["y"] for b in shuffled])
    assert sorted(order.tolist()) == list(range(20)) and order.tolist() != list(range(20))
    # Rows stay together.
    for b in shuffled.batch_iter():
        assert np.array_equal(b["inputs"]["x"], x[b["targets"]["y"]])
    assert len(shuffled) == 4
    with pytest.raises(ValueError, match="'z' is not one of the arrays"):
        biobatch.ArrayDataset(tmp_path / "d.npz", targets=["z"])


def test_batch_iter_settings_reopen_the_array_dataset(tmp_path):
    np.save(tmp_path / "x.npy", np.arange(30, dtype=np.float64))
    ds = biobatch.ArrayDataset({"x": tmp_path / "x.npy"}, batch_size=4, shuffle=False)
    assert len(ds) == 8
    sizes = [len(b["inputs"]["x"]) for b in ds.batch_iter(batch_size=7, drop_last=True)]
    assert sizes == [7, 7, 7, 7] and len(ds) == 4
    flat = np.concatenate([b["inputs"]["x"] for b in ds.batch_iter(drop_last=False)])
    assert flat.tolist() == list(range(30))


def test_arrays_gives_several_leaves_in_one_call(example_peaks):
    ds = biobatch.PeakDataset(**example_peaks, num_workers=0)
    buf = next(ds._loader.epoch(0))
    seq, signal, label = buf.arrays(("inputs/seq", "targets/signal", "targets/is_peak"))
    assert seq.base is buf and not seq.flags["OWNDATA"], "a view of the buffer"
    assert np.shares_memory(seq, buf.array("inputs/seq"))
    assert np.array_equal(signal, buf.array("targets/signal"))
    assert (seq.dtype, label.dtype) == (np.uint8, np.uint8)

    seq8, ctl, label64 = buf.arrays(
        ("inputs/seq", "inputs/controls", "targets/is_peak"), ("int8", None, "int64")
    )
    assert seq8.dtype == np.int8 and seq8.base is buf, "int8 views the same bytes"
    assert np.shares_memory(seq8, seq) and np.array_equal(seq8.view(np.uint8), seq)
    assert ctl.base is buf and np.array_equal(ctl, buf.array("inputs/controls"))
    assert label64.dtype == np.int64 and label64.base is not buf, "int64 is a copy"
    assert not np.shares_memory(label64, label)
    assert label64.shape == label.shape and np.array_equal(label64, label)

    for casts, expected in [
        (("int8",), "only a uint8 or int8 leaf"),
        (("int64",), "only an integer or bool leaf"),
        (("float16",), "unknown cast"),
        ((None, None), "one per path"),
    ]:
        with pytest.raises(biobatch.InvalidInputError, match=expected):
            buf.arrays(("targets/signal",), casts)
    with pytest.raises(ValueError, match="no leaf"):
        buf.arrays(("inputs/nope",))
    with pytest.raises(ValueError, match="only an array leaf"):
        buf.arrays(("metadata",), ("int64",))
