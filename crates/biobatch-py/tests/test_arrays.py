"""biobatch.ArraysDataset on the netCDF4 fixture: the values xarray read (saved with the
fixture), the same stream as `biobatch arrays digest`, resume, and clear errors."""

import numpy as np
import pytest

import biobatch

from conftest import ROOT

ARRAYS = ROOT / "tests" / "data" / "arrays"
HOLODEC = ARRAYS / "holodec_small.nc"


def holodec(**kw):
    fields = dict(
        file=HOLODEC,
        inputs=["image"],
        targets=["label"],
        ragged={"name": "particles", "variables": ["x", "y", "z", "d"], "by": "hid",
                "base": 1, "sort_by": "d"},
        flips=[{"axis": 1, "negate": ["x"]}, {"axis": 2, "negate": ["y"]}],
        seed=5,
        batch_size=5,
        num_workers=2,
    )
    fields.update(kw)
    return biobatch.ArraysDataset(**fields)


def test_batches_hold_what_xarray_read_with_padded_particles_and_flips():
    want = np.load(ARRAYS / "expected_holodec_small.npz")
    seen = []
    for b in holodec():
        idx = b["metadata"]["index"]
        flips = b["metadata"]["flips"]
        image = b["inputs"]["image"]
        parts = b["targets"]["particles"]
        count = b["targets"]["particles_count"]
        mask = b["targets"]["particles_mask"]
        assert parts.shape[1:] == (4, 4) and parts.dtype == np.float32
        for j, (i, f) in enumerate(zip(idx, flips)):
            seen.append(int(i))
            img = want["image"][i]
            if f & 1:
                img = img[::-1, :]
            if f & 2:
                img = img[:, ::-1]
            np.testing.assert_array_equal(image[j], img)
            assert b["targets"]["label"][j] == want["label"][i]
            keep = want["hid"] == i + 1
            p = np.stack([want[k][keep] for k in "xyzd"], axis=-1)
            p = p[np.argsort(p[:, 3], kind="stable")]
            p[:, 0] *= -1 if f & 1 else 1
            p[:, 1] *= -1 if f & 2 else 1
            assert count[j] == len(p)
            np.testing.assert_allclose(parts[j, : len(p)], p, rtol=1e-6)
            assert (parts[j, len(p):] == 0).all()
            assert mask[j].sum() == len(p) and mask[j, : len(p)].all()
    assert sorted(seen) == list(range(12))


def test_the_stream_is_the_command_lines(cli):
    ours = [biobatch.digest(b) for b in holodec(num_workers=3)]
    code, lines, err = cli(
        "arrays", "digest", HOLODEC, "--inputs", "image", "--targets", "label",
        "--ragged", "x,y,z,d", "--ragged-name", "particles", "--ragged-by", "hid", "--ragged-base", "1", "--sort-by", "d",
        "--flip", "1:x", "--flip", "2:y", "--seed", "5", "--batch-size", "5", "--batches", "10",
    )
    assert code == 0, err
    assert ours == [line.split("\t")[2] for line in lines]


def test_resume_continues_the_same_epoch():
    ds = holodec()
    first = iter(ds)
    next(first)
    state = ds.state_dict()
    rest = [biobatch.digest(b) for b in first]
    again = holodec()
    again.load_state_dict(state)
    assert [biobatch.digest(b) for b in again] == rest


def test_info_and_errors_name_the_file_and_variable():
    info = biobatch.array_file_info(HOLODEC)
    assert info["format"] == "netCDF4"
    image = next(v for v in info["variables"] if v["name"] == "image")
    assert image["chunks"] == [4, 6, 5] and image["filters"] == ["shuffle", "deflate(4)"]
    with pytest.raises(ValueError, match=r"holodec_small\.nc.*no variable `imagez`"):
        holodec(inputs=["imagez"])
    with pytest.raises(ValueError, match=r"`hid`.*outside"):
        holodec(ragged={"variables": ["x"], "by": "hid", "base": 5})
    with pytest.raises(ValueError, match="nccopy -k nc4"):
        biobatch.ArraysDataset(file=ARRAYS / "classic.nc", inputs=["v"])


def test_zarr_copies_give_the_netcdf4_files_batches():
    # The package is built with Zarr support (pyproject.toml's features).
    assert biobatch.array_file_info(ARRAYS / "holodec_small_v3.zarr")["format"] == "Zarr v3"
    want = [biobatch.digest(b) for b in holodec()]
    for store in ("holodec_small_v2.zarr", "holodec_small_v3.zarr"):
        assert [biobatch.digest(b) for b in holodec(file=ARRAYS / store)] == want


def test_sparse_ragged_targets_are_the_padded_items_without_padding():
    sparse_ragged = {"name": "particles", "variables": ["x", "y", "z", "d"], "by": "hid",
                     "base": 1, "sort_by": "d", "layout": "sparse"}
    for p, s in zip(holodec(), holodec(ragged=sparse_ragged)):
        rows = s["targets"]["particles"]
        count = p["targets"]["particles_count"]
        assert (s["targets"]["particles_count"] == count).all()
        assert rows.shape == (len(count), 16)
        for i, n in enumerate(count):
            got = rows.data[rows.indptr[i]:rows.indptr[i + 1]].reshape(-1, 4)
            np.testing.assert_array_equal(got, p["targets"]["particles"][i, :n])
