"""Single cells: TileDB-SOMA-ML's ``ExperimentDataset`` API over biobatch's store.

Switching from TileDB-SOMA-ML::

    # from tiledbsoma_ml import ExperimentDataset, experiment_dataloader
    from biobatch.cells import ExperimentDataset, experiment_dataloader

    ds = ExperimentDataset("store/", obs_query="tissue = 'lung'", layer_name="counts",
                           obs_column_names=["soma_joinid", "cell_type"], batch_size=128,
                           shuffle=True, seed=1)
    for X, obs in experiment_dataloader(ds):
        ...

Filters are biobatch's SQL-style expressions over the store's obs / var tables
(docs/soma.md) instead of a ``SOMA`` query object.
"""

import copy
import json

from . import _native
from ._base import Epochs, paths
from ._dist import resolve_rank


class ExperimentDataset(Epochs):
    """Shuffled cells of a biobatch store as ``(X, obs)`` batches.

    ``X`` is a float32 numpy array ``[batch_size, n_vars]`` (rank 1 when ``batch_size`` is 1,
    as TileDB-SOMA-ML yields) that views the loader's buffer, or a
    ``scipy.sparse.csr_matrix`` with ``return_sparse_X=True``; ``obs`` is a pandas
    DataFrame of ``obs_column_names`` (``soma_joinid`` is the cell's row in the store).

    Parameters follow TileDB-SOMA-ML: ``obs_query`` / ``var_query`` (SQL-style filters on
    obs / var columns), ``layer_name``, ``obs_column_names``, ``batch_size``,
    ``io_batch_size`` (cells read and shuffled together), ``shuffle``,
    ``shuffle_chunk_size`` (contiguous cells drawn together), ``seed``,
    ``return_sparse_X``, ``use_eager_fetch`` (read the next IO batch ahead). biobatch's own:
    ``num_workers`` (Rust threads), ``prefetch``, ``var_ids``, ``verify_full`` (check every
    byte of the store at open), ``rank`` / ``world_size`` (else ``torch.distributed``, else
    ``RANK`` / ``WORLD_SIZE``: ranks get disjoint, equal shares).
    """

    def __init__(
        self,
        store,
        obs_query=None,
        var_query=None,
        layer_name=None,
        obs_column_names=("soma_joinid",),
        batch_size=1,
        io_batch_size=65536,
        shuffle=True,
        shuffle_chunk_size=64,
        seed=None,
        return_sparse_X=False,
        use_eager_fetch=True,
        *,
        num_workers=2,
        prefetch=4,
        var_ids=None,
        verify_full=False,
        rank=None,
        world_size=None,
        _split=None,
    ):
        import pandas  # noqa: F401 — loaded now, not on the first batch

        self.rank, self.world_size = resolve_rank(rank, world_size, seed)
        self.obs_column_names = tuple(obs_column_names)
        self.batch_size = int(batch_size)
        self.return_sparse_X = bool(return_sparse_X)
        self._config = {
            "store": paths(store),
            "layer": layer_name,
            "obs_filter": obs_query,
            "var_filter": var_query,
            "var_ids": list(var_ids or []),
            "io_batch_size": int(io_batch_size),
            "shuffle": bool(shuffle),
            "shuffle_chunk_size": int(shuffle_chunk_size),
            "seed": seed,
            "return_sparse": self.return_sparse_X,
            "obs_columns": [c for c in self.obs_column_names if c != "soma_joinid"],
            "io_prefetch": 1 if use_eager_fetch else 0,
            "verify_full": bool(verify_full),
            "loader": {
                "batch_size": self.batch_size,
                "num_workers": int(num_workers),
                "prefetch": int(prefetch),
            },
        }
        if _split is not None:
            self._config.update(_split)
        self._args = dict(rank=self.rank, world_size=self.world_size)
        native = _native.open_cells(json.dumps(self._config), self.rank, self.world_size)
        super().__init__(native)

    @property
    def shape(self):
        """``(cells this rank yields per epoch, genes)``."""
        return (self._loader.num_items, self.info["genes"])

    def random_split(self, *fractions, seed=None, method="stochastic_rounding"):
        """Disjoint datasets with the given fractions of the cells (which sum to 1), as
        TileDB-SOMA-ML's ``random_split``: ``method`` is ``"stochastic_rounding"``,
        ``"deterministic"`` or ``"multinomial"``; ``seed`` defaults to the dataset's."""
        if not fractions:
            raise ValueError("give at least one fraction")
        parts = []
        for i in range(len(fractions)):
            split = {
                "split": [float(f) for f in fractions],
                "split_part": i,
                "split_method": method,
                "split_seed": self._config["seed"] if seed is None else int(seed),
            }
            part = copy.copy(self)
            part._config = dict(self._config, **split)
            Epochs.__init__(
                part, _native.open_cells(json.dumps(part._config), self.rank, self.world_size)
            )
            parts.append(part)
        return parts

    def _x(self, x):
        if isinstance(x, _native.Csr):
            import scipy.sparse

            return scipy.sparse.csr_matrix((x.data, x.indices, x.indptr), shape=x.shape)
        if self.batch_size == 1:
            return x.reshape(-1)
        return x

    def __iter__(self):
        import numpy as np
        import pandas as pd

        paths = {
            name: "metadata/soma_joinid" if name == "soma_joinid" else f"metadata/obs/{name}"
            for name in self.obs_column_names
        }
        for buf in self._buffers():
            # obs is copied (a few values per cell): a DataFrame or an id array kept by the
            # caller must not keep the whole batch buffer, X included, from the pool.
            columns = {name: np.array(buf.array(path)) for name, path in paths.items()}
            yield self._x(buf.array("inputs/X")), pd.DataFrame(columns, copy=False)


def experiment_dataloader(ds, **dataloader_kwargs):
    """A loader over an :class:`ExperimentDataset`, as TileDB-SOMA-ML's
    ``experiment_dataloader``: the dataset batches and shuffles, so ``shuffle``,
    ``batch_size``, ``sampler`` and ``batch_sampler`` are refused with ``ValueError``.

    With torch installed this is a ``torch.utils.data.DataLoader`` (``batch_size=None``,
    ``num_workers=0``: biobatch's threads do the work in this process); without, the dataset
    itself. Worker processes (``num_workers > 0``) are refused: use the dataset's own
    ``num_workers`` threads.
    """
    for k in ("shuffle", "batch_size", "sampler", "batch_sampler"):
        if k in dataloader_kwargs:
            raise ValueError(f"experiment_dataloader does not support the {k!r} argument")
    if dataloader_kwargs.get("num_workers", 0):
        raise ValueError(
            "biobatch loads with threads in this process: give ExperimentDataset(..., "
            "num_workers=N) instead of DataLoader worker processes"
        )
    try:
        import torch.utils.data as tud
    except ImportError:
        if dataloader_kwargs:
            raise ValueError(
                f"without torch, experiment_dataloader takes no arguments: {sorted(dataloader_kwargs)}"
            ) from None
        return ds
    from .torch import IterableDataset

    dataloader_kwargs.pop("num_workers", None)
    return tud.DataLoader(
        IterableDataset(ds), batch_size=None, num_workers=0, collate_fn=_identity, **dataloader_kwargs
    )


def _identity(x):
    return x


def import_mtx(directory, out, layer="counts"):
    """Imports a 10x MatrixMarket directory (``matrix.mtx[.gz]``, ``barcodes``,
    ``features``/``genes``) into a new store at ``out``; returns its summary."""
    return json.loads(_native.import_mtx(paths(directory), paths(out), layer))


def import_h5ad(file, out, layer="counts"):
    """Imports an ``.h5ad`` file (X as layer ``layer``) into a new store at ``out``; returns
    its summary. Needs a package built with the ``h5ad`` feature."""
    return json.loads(_native.import_h5ad(paths(file), paths(out), layer))


def import_zarr(store, out, layer="counts"):
    """Imports an AnnData Zarr store (v2 or v3, as ``AnnData.write_zarr`` writes it; X as
    layer ``layer``) into a new store at ``out``; returns its summary."""
    return json.loads(_native.import_anndata_zarr(paths(store), paths(out), layer))


def open_store(store):
    """A store's summary: ``n_obs``, ``n_vars``, layers, obs and var columns (the store is
    validated as it is opened)."""
    return json.loads(_native.store_info(paths(store)))


def __getattr__(name):
    # The Lightning DataModule needs lightning and torch: imported only when asked for.
    if name == "SCVIDataModule":
        from .scvi import SCVIDataModule

        return SCVIDataModule
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
