"""Converts a biobatch cells store into a TileDB-SOMA experiment, for `cells_tiledbsoma_ml.py`.

Usage: python cells_to_soma.py STORE OUT_SOMA

STORE is a biobatch-soma store (manifest.json, obs.parquet, var.parquet and the CSR layer
X/counts/{indptr,indices,values}.npy, as written by the Rust project). OUT_SOMA becomes a
TileDB-SOMA experiment with one measurement "RNA" whose X layer "counts" is a float32
SparseNDArray (the dtype TileDB-SOMA-ML hands back as dense X unchanged, and the dtype
biobatch yields). obs keeps obs_id, tissue, batch, donor, n_genes and total_counts; var keeps
var_id and gene_name. soma_joinid is the row number in the store, so the two loaders see the
same cells under the same ids.

The write goes through tiledbsoma.io.from_anndata with its default platform config, i.e. the
way a user would normally produce an experiment from an in-memory AnnData.

Prints one JSON line: load_s (reading the .npy/.parquet files and building the AnnData),
write_s (from_anndata), total_s, the on-disk size and the versions. If OUT_SOMA already
exists nothing is done, and the line says so.
"""
import importlib.metadata
import json
import os
import sys
import time


def dir_bytes(path):
    """Total size of the regular files under path."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            total += os.path.getsize(os.path.join(root, name))
    return total


def main():
    store, out = sys.argv[1], sys.argv[2]
    if os.path.exists(out):
        print(json.dumps({"area": "compare", "case": "cells_to_soma", "skipped": True,
                          "reason": f"{out} exists", "soma_bytes": dir_bytes(out)}))
        return

    t_start = time.perf_counter()
    import anndata as ad
    import numpy as np
    import pandas as pd
    import scipy.sparse as sp
    import tiledbsoma
    import tiledbsoma.io

    with open(os.path.join(store, "manifest.json")) as f:
        manifest = json.load(f)
    n_obs, n_vars = int(manifest["n_obs"]), int(manifest["n_vars"])
    layer = manifest["layers"]["counts"]
    load = lambda key: np.load(os.path.join(store, layer[key]["file"]), mmap_mode="r")

    # CSR arrays: the store keeps u64 indptr and u16 indices/values; scipy wants signed
    # integer indices, and the experiment should hold float32 counts.
    indptr = np.asarray(load("indptr"), dtype=np.int64)
    indices = np.asarray(load("indices"), dtype=np.int32)
    values = np.asarray(load("values"), dtype=np.float32)
    assert len(indptr) == n_obs + 1 and int(indptr[-1]) == len(indices) == len(values)
    X = sp.csr_matrix((values, indices, indptr), shape=(n_obs, n_vars))
    del indptr, indices, values  # the csr_matrix holds the only references now

    # obs/var: the id columns become the AnnData index; from_anndata writes the index back
    # as the obs_id / var_id column (its obs_id_name / var_id_name defaults).
    obs = pd.read_parquet(os.path.join(store, manifest["obs"]["file"])).set_index("obs_id")
    var = pd.read_parquet(os.path.join(store, manifest["var"]["file"])).set_index("var_id")
    assert len(obs) == n_obs and len(var) == n_vars
    adata = ad.AnnData(X=X, obs=obs, var=var)
    load_s = time.perf_counter() - t_start

    t0 = time.perf_counter()
    tiledbsoma.io.from_anndata(out, adata, measurement_name="RNA", X_layer_name="counts",
                               obs_id_name="obs_id", var_id_name="var_id")
    write_s = time.perf_counter() - t0

    # Read back the shape and obs schema as a cheap check that the experiment is usable.
    with tiledbsoma.Experiment.open(out) as exp:
        x = exp.ms["RNA"].X["counts"]
        x_shape, x_nnz, x_type = list(x.shape), int(x.nnz), str(x.schema.field("soma_data").type)
        obs_cols = exp.obs.schema.names

    print(json.dumps({
        "area": "compare",
        "case": "cells_to_soma",
        "skipped": False,
        "tiledbsoma": tiledbsoma.__version__,
        "anndata": importlib.metadata.version("anndata"),
        "n_obs": n_obs,
        "n_vars": n_vars,
        "nnz": x_nnz,
        "x_shape": x_shape,
        "x_dtype": x_type,
        "obs_columns": obs_cols,
        "load_s": load_s,
        "write_s": write_s,
        "total_s": time.perf_counter() - t_start,
        "soma_bytes": dir_bytes(out),
    }))


if __name__ == "__main__":
    main()
