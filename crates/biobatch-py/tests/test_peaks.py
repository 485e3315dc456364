"""The peak loader from Python: the command line's batches, cherimoya's tuples, resume."""

import numpy as np
import pytest

import biobatch

from conftest import PEAKS


def cli_digests(cli, workers, batches=4, extra=()):
    code, out, err = cli(
        "peaks", "digest", "--example", "--no-cache", "--workers", workers,
        "--batches", batches, *extra,
    )
    assert code == 0, err
    return [line.split("\t") for line in out]


@pytest.mark.parametrize("workers", [0, 1, 2])
def test_batches_are_the_command_lines_for_any_worker_count(cli, example_peaks, workers):
    expected = cli_digests(cli, 2)
    ds = biobatch.PeakDataset(**example_peaks, num_workers=workers)
    got = []
    for batch in ds:
        # The arrays as Python sees them, hashed again from a copy.
        got.append(biobatch.digest(batch))
        if len(got) == len(expected):
            break
    assert got == [e[2] for e in expected]


def test_a_python_reimplementation_of_the_digest_agrees(example_peaks):
    """The digest is checked against an independent implementation over the numpy leaves,
    so the comparison with the command line does not rest on the Rust code alone."""
    ds = biobatch.PeakDataset(**dict(example_peaks, batch_size=2), num_workers=0)
    batch = next(iter(ds))
    assert py_digest(batch) == biobatch.digest(batch)


MASK = (1 << 64) - 1


def py_digest(batch):
    k, h = 0x9E3779B97F4A7C15, 0xCBF29CE484222325

    def word(h, w):
        h = ((h ^ w) * k) & MASK
        return ((h << 29) | (h >> 35)) & MASK

    def raw(h, b):
        n = len(b)
        for i in range(0, n - n % 8, 8):
            h = word(h, int.from_bytes(b[i : i + 8], "little"))
        tail = b[n - n % 8 :] + bytes(8 - n % 8)
        return word(h, int.from_bytes(tail, "little") ^ ((n << 56) & MASK))

    def leaves(node, prefix):
        if isinstance(node, dict):
            for key in sorted(node, key=lambda s: s.encode()):
                yield from leaves(node[key], f"{prefix}/{key}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                yield from leaves(v, f"{prefix}/{i}")
        else:
            yield prefix, np.ascontiguousarray(node)

    for part in ("inputs", "targets", "metadata"):
        if part not in batch:
            continue
        for path, a in leaves(batch[part], part):
            h = raw(h, path.encode())
            if a.dtype == np.uint8:
                h = raw(h, a.tobytes())
            elif a.dtype == np.float32:
                bits = a.reshape(-1).view(np.uint32).tolist()
                for i in range(0, len(bits) - 1, 2):
                    h = word(h, (bits[i] << 32) | bits[i + 1])
                if len(bits) % 2:
                    h = word(h, bits[-1])
            elif a.dtype.kind in "iub":
                size = {1: 0xFF, 4: 0xFFFFFFFF, 8: MASK}[a.dtype.itemsize]
                for x in a.reshape(-1).tolist():
                    h = word(h, int(x) & size)
            elif a.dtype == np.float64:
                for x in a.reshape(-1).view(np.uint64).tolist():
                    h = word(h, x)
            elif a.dtype.kind == "U":
                for s in a.reshape(-1).tolist():
                    h = raw(h, s.encode())
            else:
                raise AssertionError(f"{path}: dtype {a.dtype}")
    return f"{h:016x}"


def test_peak_generator_yields_cherimoyas_tuples(example_peaks):
    d = PEAKS
    loader = biobatch.PeakGenerator(
        peaks=d / "peaks.narrowPeak",
        negatives=d / "negatives.bed",
        sequences=d / "genome.fa",
        signals=[[d / "signal.plus.bw", d / "signal.minus.bw"]],
        controls=[[d / "control.plus.bw", d / "control.minus.bw"]],
        in_window=1000,
        out_window=500,
        max_jitter=32,
        batch_size=16,
        random_state=3,
        num_workers=2,
    )
    ds = loader.dataset
    assert len(ds) == ds.n_peaks + int(ds.n_peaks * 0.25)
    n, labels = 0, 0
    for i, batch in enumerate(loader):
        assert len(batch) == 4
        x, ctl, y, label = [np.asarray(t) for t in batch]
        assert (x.dtype, ctl.dtype, y.dtype, label.dtype) == (np.int8, np.float32, np.float32, np.int64)
        b = x.shape[0]
        assert x.shape == (b, 4, 1000) and ctl.shape == (b, 2, 1000) and y.shape == (b, 2, 500)
        assert b == 16 or i == len(loader) - 1
        # One-hot: each position has at most one base (N is all zeros).
        assert set(np.unique(x.sum(axis=1))) <= {0, 1}
        n += b
        labels += int(label.sum())
    assert n == len(ds)
    assert labels == ds.n_peaks, "every peak once per epoch"

    no_controls = biobatch.PeakGenerator(
        d / "peaks.narrowPeak", d / "negatives.bed", d / "genome.fa",
        [d / "signal.plus.bw", d / "signal.minus.bw"], random_state=1, batch_size=8,
    )
    first = next(iter(no_controls))
    assert len(first) == 3
    assert np.asarray(first[1]).shape == (8, 2, 1000), "two one-channel groups"


def test_each_pass_is_a_new_epoch_and_set_epoch_chooses_one(example_peaks):
    ds = biobatch.PeakDataset(**example_peaks, num_workers=1)
    first = [biobatch.digest(b) for b in ds]
    second = [biobatch.digest(b) for b in ds]
    assert first != second, "the second pass is epoch 1"
    ds.set_epoch(0)
    assert [biobatch.digest(b) for b in ds] == first


def test_state_dict_resumes_at_the_exact_batch(example_peaks):
    ds = biobatch.PeakDataset(**example_peaks, num_workers=2)
    ds.set_epoch(1)
    whole = [biobatch.digest(b) for b in ds]
    ds.set_epoch(1)
    it = iter(ds)
    head = [biobatch.digest(next(it)) for _ in range(2)]
    state = ds.state_dict()
    assert state["epoch"] == 1 and state["cursor"]
    del it

    again = biobatch.PeakDataset(**example_peaks, num_workers=0)
    again.load_state_dict(state)
    tail = [biobatch.digest(b) for b in again]
    assert head + tail == whole
    # After the resumed epoch, the next pass is epoch 2 from its start.
    assert again.state_dict() == {"epoch": 2, "cursor": None, "version": 1}


def test_the_resume_cursor_is_the_command_lines(cli, example_peaks):
    expected = cli_digests(cli, 1, batches=4)
    ds = biobatch.PeakDataset(**example_peaks, num_workers=1)
    it = iter(ds)
    next(it)
    cursor = ds.state_dict()["cursor"]
    assert cursor == expected[0][3]
    resumed = cli_digests(cli, 1, batches=2, extra=("--resume", cursor))
    assert [r[2] for r in resumed] == [biobatch.digest(next(it)) for _ in range(2)]


def test_the_generators_dataset_serves_the_loaders_examples_by_index():
    d = PEAKS
    loader = biobatch.PeakGenerator(
        d / "peaks.narrowPeak", d / "negatives.bed", d / "genome.fa",
        [[d / "signal.plus.bw", d / "signal.minus.bw"]],
        controls=[[d / "control.plus.bw", d / "control.minus.bw"]],
        in_window=500, out_window=200, max_jitter=20, batch_size=16, random_state=4,
    )
    ds = loader.dataset
    batches = [[np.asarray(t) for t in b] for b in loader]  # epoch 0
    batches += [[np.asarray(t) for t in b] for b in loader]  # epoch 1
    n = len(ds)
    assert n == sum(len(b[0]) for b in batches) // 2
    # Two sequential passes by index, as a DataLoader with a sequential sampler makes them:
    # the backward jump to 0 starts epoch 1, as in cherimoya.
    for epoch in (0, 1):
        for i in range(n):
            x, ctl, y, label = ds[i]
            b, row = batches[epoch * len(loader) + i // 16], i % 16
            assert np.array_equal(np.asarray(x), b[0][row])
            assert np.array_equal(np.asarray(ctl), b[1][row])
            assert np.array_equal(np.asarray(y), b[2][row])
            assert label == b[3][row]
    x, *_ = ds[(0, 17)]
    assert np.array_equal(np.asarray(x), batches[1][0][1])
    with pytest.raises(IndexError):
        ds[(0, n)]
