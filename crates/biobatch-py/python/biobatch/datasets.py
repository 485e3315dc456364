"""The Rust datasets with their own batch trees: Kipoi's ``{"inputs", "targets",
"metadata"}`` dicts of numpy arrays that view the loader's buffers."""

import json

from . import _native
from ._base import Epochs, paths
from ._dist import resolve_rank

_LOADER_KEYS = ("batch_size", "num_workers", "prefetch", "drop_last", "progress")


class _ConfigDataset(Epochs):
    """A dataset opened from a Rust configuration (fields as in the TOML files)."""

    _open = None  # the native opener

    def __init__(self, rank=None, world_size=None, **fields):
        self._fields = {k: paths(v) for k, v in fields.items() if v is not None}
        self.rank, self.world_size = resolve_rank(rank, world_size, self._fields.get("seed"))
        super().__init__(self._open_native(self._fields))

    def _open_native(self, fields):
        config = {k: v for k, v in fields.items() if k not in _LOADER_KEYS}
        loader = {k: v for k, v in fields.items() if k in _LOADER_KEYS}
        if loader:
            config["loader"] = loader
        opener = type(self)._open
        return opener(json.dumps(config), self.rank, self.world_size)

    @property
    def config(self):
        """The fields this dataset was opened with (a TOML file with them replays the run
        from the command line)."""
        return dict(self._fields)

    @property
    def _settings(self):
        return self._fields

    def _reopen(self):
        return self._open_native(self._fields)


class PeakDataset(_ConfigDataset):
    """The BPNet peak/negative dataset: one-hot sequence windows around peaks and sampled
    negatives, stranded signal targets and control inputs, jitter and reverse complement.

    Keywords are the fields of Rust's ``PeakConfig`` (docs/peaks.md), loader settings
    (``batch_size``, ``num_workers``, ``prefetch``, ``drop_last``, ``progress``) among them:
    ``fasta``, ``peaks``, ``negatives``, ``signals`` and ``controls`` (lists of groups: a
    group of two paths is a stranded pair), ``chroms``, ``in_window``, ``out_window``,
    ``max_jitter``, ``negative_ratio``, ``reverse_complement``, ``shuffle``, ``summits``,
    ``seed``, ``onehot_dtype`` (``"u8"`` | ``"f32"``), ``missing``, ``nan``,
    ``outlier_filter``, ``min_counts``, ``max_counts``, ``counts_filter_negatives``,
    ``exclusion_lists``, ``strict``, ``cache_dir``; plus ``rank`` / ``world_size``.

    Batches: ``inputs/seq [B, 4, in_window]``, ``inputs/controls [B, C, in_window]``,
    ``targets/signal [B, T, out_window]``, ``targets/is_peak [B]`` and the window metadata.
    The stream is the one ``biobatch peaks digest`` prints for the same settings.
    """

    _open = staticmethod(_native.open_peaks)


class IntervalDataset(_ConfigDataset):
    """BED intervals as one-hot sequence windows with labels from the BED's columns and
    binned bigWig tracks as targets (Rust's ``IntervalConfig``; docs/intervals.md):
    ``intervals``, ``fasta``, ``sequence_length``, ``labels`` (``cut -f`` syntax),
    ``use_strand``, ``tracks``, ``target_length``, ``bin_size``, ``chroms``,
    ``exclusion_lists``, ``out_of_bounds``, ``missing``, ``nan``, ``max_jitter``,
    ``reverse_complement``, ``shuffle``, ``seed``, ``onehot_dtype``, ``layout``, loader
    settings, ``rank`` / ``world_size``."""

    _open = staticmethod(_native.open_intervals)


class ArraysDataset(_ConfigDataset):
    """Samples of an array file — HDF5 / netCDF4, a Zarr v2 / v3 store, ``.npz`` or ``.npy``
    — along the first
    axis of its variables, with ragged per-sample targets (the holodec case: images with a
    variable number of particles each), chunk-aware shuffling, flips and normalisation
    (Rust's ``ArraysConfig``; docs/arrays.md).

    ``ArraysDataset(file="holodec.nc", inputs=["image"], ragged={"name": "particles",
    "variables": ["x", "y", "z", "d"], "by": "hid", "base": 1, "sort_by": "d"},
    flips=[{"axis": 1, "negate": ["x"]}, {"axis": 2, "negate": ["y"]}], seed=1)``.

    Keywords: ``file``, ``inputs``, ``targets``, ``ragged`` (``name``, ``variables``, ``by``
    + ``base`` or ``offsets``, ``sort_by``, ``descending``, ``max_items``, ``truncate``),
    ``flips`` (``axis``, ``negate``), ``normalize`` (``{"image": "stats", "z": {"mean": …,
    "std": …}}``), ``shuffle``, ``chunked``, ``seed``, ``io_chunks``, ``io_prefetch``,
    ``cache_bytes``, ``preload_bytes``, loader settings, ``rank`` / ``world_size``.

    Batches: ``inputs/<name>``, ``targets/<name>``, the ragged targets padded as
    ``targets/<ragged> [B, max_items, k]`` with ``targets/<ragged>_count [B]`` and
    ``targets/<ragged>_mask [B, max_items]``, ``metadata/index`` (and ``metadata/flips``).
    The stream is the one ``biobatch arrays digest`` prints for the same settings.
    """

    _open = staticmethod(_native.open_array_file)


def array_file_info(path):
    """What an array file holds: its format, dimensions and variables (shape, dtype, chunks,
    filters, CF decoding), as ``biobatch arrays info`` prints it."""
    return json.loads(_native.array_file_info(paths(path)))


class ArrayDataset(Epochs):
    """Named arrays from a ``.npz`` file or ``.npy`` files, memory-mapped, sharing their
    first (record) axis. For HDF5 / netCDF4 files, ragged targets and chunk-aware shuffling,
    see :class:`ArraysDataset`.

    ``ArrayDataset("data.npz")`` makes every member an input;
    ``ArrayDataset("data.npz", targets=["y"])`` makes ``y`` a target. A dict
    ``{"x": "x.npy", "y": "y.npy"}`` names ``.npy`` files. Batches are Kipoi dicts of numpy
    arrays; ``shuffle`` orders each epoch by the seed (``seed`` required for more than one
    rank).
    """

    def __init__(
        self,
        path,
        targets=(),
        metadata=(),
        batch_size=32,
        num_workers=2,
        shuffle=True,
        drop_last=False,
        seed=None,
        prefetch=4,
        rank=None,
        world_size=None,
    ):
        import numpy as np

        self.rank, self.world_size = resolve_rank(rank, world_size, seed)
        if isinstance(path, dict):
            entries = [(name, paths(p), None) for name, p in path.items()]
        else:
            path = paths(path)
            if path.endswith(".npz"):
                with np.load(path) as z:
                    entries = [(n, path, n) for n in z.files]
            else:
                entries = [("x", path, None)]
        known = {e[0] for e in entries}
        for n in list(targets) + list(metadata):
            if n not in known:
                raise ValueError(f"{n!r} is not one of the arrays {sorted(known)}")
        part = lambda n: "targets" if n in targets else "metadata" if n in metadata else "inputs"
        self._arrays = [(part(n), n, p, m) for n, p, m in entries]
        self._loader_settings = dict(seed=seed, shuffle=shuffle, batch_size=batch_size,
                                     num_workers=num_workers, prefetch=prefetch,
                                     drop_last=drop_last)
        super().__init__(self._reopen())

    @property
    def _settings(self):
        return self._loader_settings

    def _reopen(self):
        s = self._loader_settings
        return _native.open_arrays(
            self._arrays, s["seed"], s["shuffle"], s["batch_size"], s["num_workers"],
            s["prefetch"], s["drop_last"], self.rank, self.world_size,
        )
