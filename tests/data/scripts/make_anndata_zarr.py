"""Rewrites two of the .h5ad fixtures as AnnData Zarr stores with anndata itself, for the
Zarr importer's tests: the store imported from each must equal the one imported from the
.h5ad (whose import is checked against what anndata reads).

Run from tests/data/:  python scripts/make_anndata_zarr.py   (needs anndata, zarr)
"""

import shutil

import anndata as ad

for stem, fmt in (("squidpy_test_data", 2), ("10x_pbmc68k_reduced", 3)):
    a = ad.read_h5ad(f"soma/{stem}.h5ad")
    # Keep the fixture small: obsm/varm/uns/layers are not imported.
    a = ad.AnnData(X=a.X, obs=a.obs, var=a.var)
    out = f"soma/{stem}.zarr"
    shutil.rmtree(out, ignore_errors=True)
    ad.settings.zarr_write_format = fmt
    a.write_zarr(out)
    print(out, "zarr v%d" % fmt, a.shape, type(a.X).__name__)
