"""Single cells through TileDB-SOMA-ML's API: the command line's batches, (X, obs), splits."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse

import biobatch
import biobatch.cells as cells

SETTINGS = dict(batch_size=64, io_batch_size=256, shuffle_chunk_size=32, seed=5)


def cli_digests(cli, store, workers, extra=()):
    code, out, err = cli(
        "cells", "digest", store, "--batches", "6", "--batch-size", "64",
        "--io-batch-size", "256", "--shuffle-chunk-size", "32", "--seed", "5",
        "--workers", workers, *extra,
    )
    assert code == 0, err
    return [line.split("\t") for line in out]


@pytest.mark.parametrize("workers", [0, 1, 2])
def test_batches_are_the_command_lines_for_any_worker_count(cli, store, workers):
    expected = cli_digests(cli, store, 2)
    ds = cells.ExperimentDataset(store, **SETTINGS, num_workers=workers)
    got = []
    for buf in ds._buffers():
        got.append(biobatch.digest(buf.tree()))
        if len(got) == 6:
            break
    assert got == [e[2] for e in expected]


def test_x_and_obs_as_tiledbsoma_ml_yields_them(store, cli):
    info = cells.open_store(store)
    assert (info["n_obs"], info["n_vars"]) == (1107, 507)
    ds = cells.ExperimentDataset(store, obs_column_names=["soma_joinid"], **SETTINGS)
    assert ds.shape == (1107, 507)
    assert len(ds) == 18
    seen = []
    for X, obs in ds:
        assert isinstance(obs, pd.DataFrame) and list(obs.columns) == ["soma_joinid"]
        assert X.dtype == np.float32 and X.shape == (len(obs), 507)
        seen.extend(obs["soma_joinid"].tolist())
    assert sorted(seen) == list(range(1107)), "every cell once per epoch"

    sparse = cells.ExperimentDataset(store, return_sparse_X=True, **SETTINGS)
    dense = cells.ExperimentDataset(store, **SETTINGS)
    for (xs, os_), (xd, od) in zip(sparse, dense):
        assert scipy.sparse.issparse(xs)
        assert np.array_equal(xs.toarray(), xd)
        assert os_.equals(od)

    one = cells.ExperimentDataset(store, batch_size=1, io_batch_size=256, seed=5)
    X, obs = next(iter(one))
    assert X.shape == (507,), "rank 1 with batch_size 1, as TileDB-SOMA-ML"
    assert len(obs) == 1


def test_set_epoch_changes_the_order_and_random_split_sizes(store):
    ds = cells.ExperimentDataset(store, **SETTINGS)
    ds.set_epoch(0)
    a = [obs["soma_joinid"].tolist() for _, obs in ds]
    ds.set_epoch(1)
    b = [obs["soma_joinid"].tolist() for _, obs in ds]
    assert a != b and sorted(sum(a, [])) == sorted(sum(b, []))

    train, val = ds.random_split(0.8, 0.2, seed=1)
    n_train, n_val = train.shape[0], val.shape[0]
    assert n_train + n_val == 1107
    assert n_train in (885, 886) and n_val in (221, 222)
    ids = lambda d: {i for _, obs in d for i in obs["soma_joinid"]}
    assert not ids(train) & ids(val)


def test_experiment_dataloader_refuses_what_theirs_refuses(store):
    ds = cells.ExperimentDataset(store, **SETTINGS)
    for k in ("shuffle", "batch_size", "sampler", "batch_sampler"):
        with pytest.raises(ValueError, match=k):
            cells.experiment_dataloader(ds, **{k: None})
    with pytest.raises(ValueError, match="threads"):
        cells.experiment_dataloader(ds, num_workers=2)


def test_filters_select_cells_and_bad_ones_name_the_column(store):
    info = cells.open_store(store)
    column = info["obs_columns"][0]
    with pytest.raises(ValueError, match="no_such_column"):
        cells.ExperimentDataset(store, obs_query="no_such_column = 1", **SETTINGS)
    assert column


def pbmc_store(tmp_path_factory):
    from conftest import SOMA

    out = tmp_path_factory.mktemp("h5ad") / "pbmc68k"
    summary = cells.import_h5ad(SOMA / "10x_pbmc68k_reduced.h5ad", out)
    return out, summary


def test_h5ad_imports_serve_obs_columns_and_values_anndata_wrote(tmp_path_factory):
    import json

    from conftest import SOMA

    want = json.loads((SOMA / "10x_pbmc68k_reduced.expected.json").read_text())
    store, summary = pbmc_store(tmp_path_factory)
    assert (summary["n_obs"], summary["n_vars"]) == tuple(want["shape"])
    assert {"bulk_labels", "phase"} <= set(summary["obs_columns"])
    ds = cells.ExperimentDataset(store, obs_column_names=["soma_joinid", "bulk_labels", "phase"],
                                 batch_size=10, shuffle=False)
    X, obs = next(iter(ds))
    assert obs["soma_joinid"].tolist() == list(range(10))
    cats = want["obs_columns"]["bulk_labels"]["categories"]
    assert obs["bulk_labels"].tolist() == [cats[c] for c in want["obs_columns"]["bulk_labels"]["codes_first"]]
    phases = want["obs_columns"]["phase"]["categories"]
    assert obs["phase"].tolist() == [phases[c] for c in want["obs_columns"]["phase"]["codes_first"]]
    n = len(want["cell_sums_first"])
    np.testing.assert_allclose(X.sum(axis=1)[:n], want["cell_sums_first"][:10][:n], rtol=1e-5)


def test_the_scvi_data_module_encodes_joined_batch_columns(tmp_path_factory):
    pytest.importorskip("lightning")
    store, _ = pbmc_store(tmp_path_factory)
    dm = cells.SCVIDataModule(store, batch_column_names=["phase", "louvain"], batch_size=64, seed=1)
    assert (dm.n_obs, dm.n_vars) == (700, 765)
    assert all(label.count("//") == 1 for label in dm.batch_labels)
    assert dm.n_batch == len(dm.batch_labels) <= 3 * 11
    batch = next(iter(dm.train_dataloader()))
    t = dm.on_before_batch_transfer(batch, 0)
    assert tuple(t["X"].shape) == (64, 765) and tuple(t["batch"].shape) == (64, 1)
    assert int(t["batch"].max()) < dm.n_batch


def test_kept_obs_frames_do_not_keep_batch_buffers(store):
    import gc

    ds = cells.ExperimentDataset(store, **SETTINGS, num_workers=0)
    kept = []
    for X, obs in ds:
        kept.append((obs, obs["soma_joinid"].to_numpy()))
    del X
    gc.collect()
    assert len(kept) == 18
    # Inline, two buffers take turns (the next batch is filled while the previous one is still
    # held by the loop); both are back now. Were the kept frames views, none would be.
    assert ds._loader.pooled_buffers >= 1


def test_scvi_tools_trains_on_the_data_module(tmp_path_factory):
    pytest.importorskip("lightning")
    scvi = pytest.importorskip("scvi")
    from conftest import SOMA

    # Integer counts (wu2020: 200 cells, 3,000 genes), two categorical batch columns.
    out = tmp_path_factory.mktemp("wu") / "store"
    cells.import_h5ad(SOMA / "wu2020_200_v0_6.h5ad", out)
    dm = cells.SCVIDataModule(out, batch_column_names=["patient", "source"], batch_size=64, seed=1)
    assert (dm.n_obs, dm.n_vars) == (200, 3000)
    model = scvi.model.SCVI(adata=None, registry=dm.registry, n_latent=5, n_hidden=32)
    model.train(datamodule=dm, max_epochs=2, accelerator="cpu")
    losses = model.history["train_loss"].to_numpy(dtype=float).ravel()
    assert len(losses) == 2 and np.isfinite(losses).all()


def test_an_anndata_zarr_store_imports_like_its_h5ad(tmp_path_factory):
    from conftest import SOMA

    h5ad_store, h = pbmc_store(tmp_path_factory)
    out = tmp_path_factory.mktemp("zarr") / "pbmc68k"
    z = cells.import_zarr(SOMA / "10x_pbmc68k_reduced.zarr", out)
    assert (z["n_obs"], z["n_vars"]) == (h["n_obs"], h["n_vars"])
    assert z["obs_columns"] == h["obs_columns"]
    take = dict(obs_column_names=["soma_joinid", "bulk_labels"], batch_size=50, shuffle=False)
    for (xa, oa), (xb, ob) in zip(cells.ExperimentDataset(h5ad_store, **take),
                                  cells.ExperimentDataset(out, **take)):
        assert (xa == xb).all()
        assert oa.equals(ob)
