#!/usr/bin/env python3
"""Write the expected values for the single-cell fixtures in tests/data/soma.

Usage:
    python make_soma_expected.py [FIXTURE_DIR]

FIXTURE_DIR defaults to ../soma relative to this script. The script (re)writes

* ``<dir>/expected.json`` for every sub-directory that holds a 10x Genomics
  MatrixMarket matrix (``matrix.mtx`` or ``matrix.mtx.gz`` next to
  ``genes.tsv``/``features.tsv[.gz]`` and ``barcodes.tsv[.gz]``), read with
  ``scipy.io.mmread``;
* ``<stem>.expected.json`` next to every ``<stem>.h5ad`` file, read with
  ``anndata.read_h5ad`` (values) and ``h5py`` (how each element is stored).

Needs numpy, scipy, pandas, h5py and anndata (the versions used are written
into every JSON file under "generator"). Output is deterministic: JSON in a
fixed key order, floats as Python ``repr`` (shortest round-trip form of the
float64), NaN written as null.

Conventions (what the Rust tests compare against):

* 10x MatrixMarket files are genes x cells; everything below is reported
  cells x genes like the store: "cell i" is barcode line i, "gene j" is
  feature line j (both 0-based, file order).
* Sums are accumulated in float64 (h5ad X is float32; each float32 is widened
  exactly before summing with numpy's pairwise summation), so compare with a
  small relative tolerance.
"""

from __future__ import annotations

import gzip
import importlib.metadata
import json
import math
import sys
import warnings
from pathlib import Path

import anndata
import h5py
import numpy as np
import pandas as pd
import scipy
import scipy.io
import scipy.sparse as sp

N_SUMS = 10  # per-cell sums for the first N cells
N_BARCODES = 10
N_FEATURES = 5
N_CELL0_PAIRS = 20  # h5ad: first N nonzeros of cell 0
N_CODES = 10
N_VALUES = 5


def generator_info() -> dict:
    return {
        "script": "tests/data/scripts/make_soma_expected.py",
        "python": sys.version.split()[0],
        **{pkg: importlib.metadata.version(pkg)
           for pkg in ("numpy", "scipy", "pandas", "h5py", "anndata")},
    }


def num(x):
    """Python scalar for JSON: ints stay ints, floats as float64, NaN -> None."""
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    x = float(x)
    return None if math.isnan(x) else x


def sig6(x) -> float:
    """Round to 6 significant digits (as a float)."""
    return float(f"{float(x):.6g}")


def read_lines(path: Path) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as fh:
        return fh.read().splitlines()


def find(dirpath: Path, *names: str) -> Path:
    for n in names:
        for cand in (dirpath / n, dirpath / (n + ".gz")):
            if cand.exists():
                return cand
    raise FileNotFoundError(f"none of {names} in {dirpath}")


# --------------------------------------------------------------------------
# 10x MatrixMarket directories
# --------------------------------------------------------------------------


def tenx_expected(d: Path) -> dict:
    mtx_path = find(d, "matrix.mtx")
    feat_path = find(d, "features.tsv", "genes.tsv")
    bc_path = find(d, "barcodes.tsv")

    m = scipy.io.mmread(str(mtx_path))  # genes x cells
    m = sp.csc_matrix(m)  # column = cell
    m.sum_duplicates()
    m.sort_indices()
    n_genes, n_cells = m.shape

    barcodes = read_lines(bc_path)
    features = [line.split("\t") for line in read_lines(feat_path)]
    assert len(barcodes) == n_cells, (len(barcodes), n_cells)
    assert len(features) == n_genes, (len(features), n_genes)

    header = read_lines(mtx_path)[0]
    integer = " integer " in f" {header} "
    cast = int if integer else float

    def cell_pairs(c: int) -> list:
        s, e = m.indptr[c], m.indptr[c + 1]
        return [[int(g), cast(v)] for g, v in zip(m.indices[s:e], m.data[s:e])]

    per_cell = np.asarray(m.sum(axis=0)).ravel()
    names = [f[1] if len(f) > 1 else f[0] for f in features]
    dup_names = sorted({n for n in names if names.count(n) > 1})
    ids = [f[0] for f in features]

    out = {
        "generator": generator_info(),
        "files": {
            "matrix": mtx_path.name,
            "features": feat_path.name,
            "barcodes": bc_path.name,
        },
        "mtx_header": header,
        "feature_columns": len(features[0]),
        "n_cells": n_cells,
        "n_genes": n_genes,
        "nnz": int(m.nnz),
        "sum": cast(m.sum()),
        "cell_sums_first": [cast(x) for x in per_cell[:N_SUMS]],
        "barcodes_first": barcodes[:N_BARCODES],
        "barcode_last": barcodes[-1],
        "feature_ids_first": ids[:N_FEATURES],
        "feature_names_first": names[:N_FEATURES],
        "duplicate_feature_names": dup_names,
        "duplicate_feature_ids": sorted({i for i in ids if ids.count(i) > 1}),
        "cell0_pairs": cell_pairs(0),
        "last_cell_pairs": cell_pairs(n_cells - 1),
    }
    if len(features[0]) >= 3:
        out["feature_types_first"] = [f[2] for f in features[:N_FEATURES]]
        out["feature_types"] = sorted({f[2] for f in features})
    return out


# --------------------------------------------------------------------------
# h5ad files
# --------------------------------------------------------------------------


def attrs_of(obj) -> dict:
    return {k: v for k, v in obj.attrs.items()}


def enc(obj) -> str | None:
    v = obj.attrs.get("encoding-type")
    if v is None:
        return None
    return v.decode() if isinstance(v, bytes) else str(v)


def x_storage(f: h5py.File) -> dict:
    x = f["X"]
    if isinstance(x, h5py.Dataset):
        return {
            "kind": "dense",
            "encoding_type": enc(x),
            "dtype": str(x.dtype),
            "shape": list(x.shape),
        }
    a = attrs_of(x)
    fmt = enc(x) or a.get("h5sparse_format")
    fmt = fmt.decode() if isinstance(fmt, bytes) else fmt
    shape = a.get("shape", a.get("h5sparse_shape"))
    return {
        "kind": {"csr_matrix": "csr", "csc_matrix": "csc"}.get(fmt, fmt),
        "encoding_type": enc(x),
        "dtype": str(x["data"].dtype),
        "index_dtype": str(x["indices"].dtype),
        "indptr_dtype": str(x["indptr"].dtype),
        "shape": [int(s) for s in shape],
    }


def column_storage(f: h5py.File, df_key: str, col: str) -> str:
    """Describe how one obs/var column is laid out in the HDF5 file."""
    df = f[df_key]
    if isinstance(df, h5py.Dataset):  # anndata < 0.7: one compound dataset
        field = df.dtype.fields[col][0]
        if f"uns/{col}_categories" in f:
            cats = f[f"uns/{col}_categories"]
            return (f"legacy compound-dataset field ({field}) holding codes; "
                    f"categories in uns/{col}_categories ({cats.dtype})")
        return f"legacy compound-dataset field ({field})"
    el = df[col]
    if isinstance(el, h5py.Group):
        parts = [f"{k}: {el[k].dtype}" for k in el.keys()]
        ver = el.attrs.get("encoding-version")
        return f"group encoding-type={enc(el)} v{ver} ({', '.join(parts)})"
    if "categories" in el.attrs:  # anndata 0.7.x
        ref = el.attrs["categories"]
        cats = f[ref]
        return (f"dataset {el.dtype} codes with 'categories' object reference "
                f"-> {cats.name} ({cats.dtype})")
    e = enc(el)
    if e is None:
        return f"dataset {el.dtype} (no encoding attributes)"
    return f"dataset {el.dtype} encoding-type={e} v{el.attrs.get('encoding-version')}"


def file_encoding(f: h5py.File) -> str:
    if isinstance(f["obs"], h5py.Dataset):
        return "legacy (anndata < 0.7): compound obs/var datasets, categories in uns/<col>_categories"
    obs_ver = f["obs"].attrs.get("encoding-version")
    if obs_ver == "0.1.0":
        return ("anndata 0.7.x: dataframe encoding-version 0.1.0, categoricals as code "
                "datasets with a 'categories' object reference into __categories/")
    return (f"anndata >= 0.8: dataframe encoding-version {obs_ver}, categoricals as groups "
            "with codes/categories")


def describe_series(s: pd.Series, storage: str) -> dict:
    d: dict = {"storage": storage}
    if isinstance(s.dtype, pd.CategoricalDtype):
        cats = s.cat.categories
        d["dtype"] = "categorical"
        d["ordered"] = bool(s.cat.ordered)
        d["categories_dtype"] = str(cats.dtype)
        d["categories"] = [c if isinstance(c, str) else num(c) for c in cats]
        d["codes_first"] = [int(c) for c in s.cat.codes[:N_CODES]]
        d["n_missing"] = int((s.cat.codes < 0).sum())
    elif pd.api.types.is_bool_dtype(s.dtype):
        d["dtype"] = "bool"
        d["values_first"] = [bool(v) for v in s[:N_VALUES]]
    elif pd.api.types.is_numeric_dtype(s.dtype):
        d["dtype"] = str(s.dtype)
        d["values_first"] = [num(v) for v in s.to_numpy()[:N_VALUES]]
        d["n_missing"] = int(s.isna().sum())
    else:
        d["dtype"] = "string"
        d["values_first"] = [None if pd.isna(v) else str(v) for v in s[:N_VALUES]]
    return d


def h5ad_expected(path: Path) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # OldFormatWarning / FutureWarning on old files
        a = anndata.read_h5ad(path)

    X = a.X
    Xc = sp.csr_matrix(X) if sp.issparse(X) else np.asarray(X)
    if sp.issparse(Xc):
        Xc.sort_indices()
        row0 = Xc.getrow(0)
        cell0 = list(zip(row0.indices.tolist(), row0.data.tolist()))
        per_cell = np.asarray(Xc.astype(np.float64).sum(axis=1)).ravel()
        total = float(Xc.astype(np.float64).sum())
        nnz = int(Xc.nnz)
        integer_valued = bool(np.all(Xc.data == np.round(Xc.data)))
    else:
        nz = np.flatnonzero(Xc[0])
        cell0 = [(int(j), Xc[0, j]) for j in nz]
        X64 = Xc.astype(np.float64)
        per_cell = X64.sum(axis=1)
        total = float(X64.sum())
        nnz = int(np.count_nonzero(Xc))
        integer_valued = bool(np.all(Xc == np.round(Xc)))

    with h5py.File(path, "r") as f:
        storage = x_storage(f)
        encoding = file_encoding(f)
        root_attrs = {k: str(v) for k, v in f.attrs.items()}
        obs = {c: describe_series(a.obs[c], column_storage(f, "obs", c)) for c in a.obs.columns}
        var = {c: describe_series(a.var[c], column_storage(f, "var", c)) for c in a.var.columns}
        has_raw = "raw" in f or "raw.X" in f

    return {
        "generator": generator_info(),
        "file": path.name,
        "encoding": encoding,
        "root_attrs": root_attrs,
        "X_storage": storage,
        "shape": [int(a.n_obs), int(a.n_vars)],
        "X_dtype": str(X.dtype),
        "X_nnz": nnz,
        "X_integer_valued": integer_valued,
        "X_sum": total,
        "cell_sums_first": [float(v) for v in per_cell[:N_SUMS]],
        "obs_names_first": [str(x) for x in a.obs_names[:N_FEATURES]],
        "var_names_first": [str(x) for x in a.var_names[:N_FEATURES]],
        "n_cell0_nonzero": len(cell0),
        "cell0_pairs_first": [[int(j), sig6(v)] for j, v in cell0[:N_CELL0_PAIRS]],
        "obs_columns": obs,
        "var_columns": var,
        "has_raw": has_raw,
    }


# --------------------------------------------------------------------------


def to_json(obj, indent: int = 0) -> str:
    """JSON with one key per line; lists of scalars or pairs stay on one line."""
    pad = " " * (indent + 1)
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = [f"{pad}{json.dumps(k, ensure_ascii=False)}: {to_json(v, indent + 1)}"
                 for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    if isinstance(obj, list) and any(isinstance(v, dict) for v in obj):
        items = [pad + to_json(v, indent + 1) for v in obj]
        return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"
    return json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(", ", ": "))


def write_json(path: Path, obj: dict) -> None:
    path.write_text(to_json(obj) + "\n", encoding="utf-8")
    print(f"wrote {path}")


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent / "soma"
    if not root.is_dir():
        print(f"not a directory: {root}", file=sys.stderr)
        return 2
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        if (d / "matrix.mtx").exists() or (d / "matrix.mtx.gz").exists():
            write_json(d / "expected.json", tenx_expected(d))
    for h in sorted(root.glob("*.h5ad")):
        write_json(h.with_name(h.stem + ".expected.json"), h5ad_expected(h))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
