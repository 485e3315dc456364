"""cherimoya's ``PeakGenerator``, on biobatch's peak loader."""

from ._base import Epochs, paths
from ._dist import resolve_rank
from . import _native

import json


def _groups(spec):
    """cherimoya's signal spec (a str per one-channel group, a list per multi-channel group,
    e.g. a stranded pair) as biobatch's list of groups."""
    if spec is None:
        return []
    if isinstance(spec, (str,)) or hasattr(spec, "__fspath__"):
        spec = [spec]
    out = []
    for entry in spec:
        if isinstance(entry, (list, tuple)):
            out.append(paths(list(entry)))
        else:
            out.append([paths(entry)])
    return out


def _files(spec):
    if spec is None:
        return []
    if isinstance(spec, (list, tuple)):
        return [paths(p) for p in spec]
    return [paths(spec)]


def _tensors():
    try:
        import torch
    except ImportError:
        return None
    return torch


def _leaves(config):
    """The leaves of cherimoya's tuple and their casts, for ``BatchBuffer.arrays``: the
    one-hot (uint8 bytes viewed as int8, no copy), controls and signal (views), and the
    labels copied to int64 — one call per batch."""
    paths = ["inputs/seq"]
    casts = ["int8" if config.get("onehot_dtype", "u8") == "u8" else None]
    if config.get("controls"):
        paths.append("inputs/controls")
        casts.append(None)
    if config.get("signals"):
        paths.append("targets/signal")
        casts.append(None)
    paths.append("targets/is_peak")
    casts.append("int64")
    return tuple(paths), tuple(casts)


class PeakSampler:
    """What ``PeakGenerator(...).dataset`` is: cherimoya's ``PeakNegativeSampler`` over
    biobatch's plan — a map-style dataset whose item ``idx`` of epoch ``e`` is the example
    the loader's batches hold at that position.

    ``len()`` is examples per epoch (peaks plus ``int(peaks × negative_ratio)``
    negatives). ``ds[idx]`` returns ``(X, X_ctl, y, label)`` (``(X, y, label)`` without
    controls) for one example, as cherimoya does; ``ds[(epoch, idx)]`` names the epoch, and a
    bare index that jumps backward starts the next epoch (cherimoya's rule, which holds for a
    sequential sampler). A torch ``DataLoader(ds, batch_size=B)`` therefore gives the same
    batches as iterating the loader. Attributes: ``n_peaks``, ``n_negatives``,
    ``negative_ratio``, the window settings and the drop report ``info``.
    """

    def __init__(self, loader, info, config):
        self._loader = loader
        self.info = info
        self.n_peaks = info["peaks_kept"]
        self.n_negatives = info["negatives_kept"]
        self.negative_ratio = config["negative_ratio"]
        self.in_window = config["in_window"]
        self.out_window = config["out_window"]
        self.max_jitter = config["max_jitter"]
        self.reverse_complement = config["reverse_complement"]
        self.shuffle = config["shuffle"]
        self._leaves = _leaves(config)
        self._epoch = 0
        self._last_idx = -1

    def __len__(self):
        """Examples per epoch."""
        return self._loader.positions

    def set_epoch(self, epoch):
        """Serves epoch ``epoch`` from now on."""
        self._epoch, self._last_idx = int(epoch), -1

    def __getitem__(self, idx):
        if isinstance(idx, tuple):
            epoch, idx = idx
            self._epoch = int(epoch)
        else:
            if idx < self._last_idx:
                self._epoch += 1
            self._last_idx = idx
        n = len(self)
        if idx < 0:
            idx += n
        if not 0 <= idx < n:
            raise IndexError(f"index {idx} is not in 0..{n}")
        *parts, label = self._loader.get(self._epoch, idx, idx + 1).arrays(*self._leaves)
        parts = [p[0] for p in parts]
        torch = _tensors()
        if torch is not None:
            parts = [torch.from_numpy(p) for p in parts]
        return (*parts, int(label[0]))


class PeakLoader(Epochs):
    """The loader :func:`PeakGenerator` returns: iterate it as cherimoya's DataLoader.

    Each batch is ``(X, X_ctl, y, label)`` with controls, ``(X, y, label)`` without:
    int8 one-hot ``[B, 4, in_window]``, float32 controls ``[B, C, in_window]``, float32
    signal ``[B, T, out_window]``, int64 labels (1 for a peak, 0 for a negative) ``[B]`` —
    torch tensors when torch is importable, numpy arrays otherwise. The sequence, controls
    and signal view the loader's buffers without a copy.
    """

    def __init__(self, loader, config, pin_memory):
        super().__init__(loader)
        self.dataset = PeakSampler(loader, self.info, config)
        self.batch_size = config["loader"]["batch_size"]
        self.num_workers = config["loader"]["num_workers"]
        self.pin_memory = pin_memory
        self._leaves = _leaves(config)

    def __iter__(self):
        # The per-batch work on the training loop's thread is kept small: it takes CPU
        # from the filling threads (one native call for the tuple, one tensor per part).
        paths, casts = self._leaves
        torch = _tensors()
        if torch is None:
            for buf in self._buffers():
                yield buf.arrays(paths, casts)
            return
        from_numpy = torch.from_numpy
        if self.pin_memory and torch.cuda.is_available():
            for buf in self._buffers():
                yield tuple(from_numpy(p).pin_memory() for p in buf.arrays(paths, casts))
        else:
            for buf in self._buffers():
                yield tuple(map(from_numpy, buf.arrays(paths, casts)))


def PeakGenerator(
    peaks,
    negatives,
    sequences,
    signals,
    controls=None,
    chroms=None,
    in_window=2114,
    out_window=1000,
    max_jitter=500,
    negative_ratio=0.25,
    reverse_complement=True,
    shuffle=True,
    min_counts=None,
    max_counts=None,
    summits=False,
    exclusion_lists=None,
    random_state=None,
    pin_memory=True,
    num_workers=1,
    batch_size=64,
    verbose=False,
    signal_groups=None,
    control_groups=None,
    *,
    cache_dir=None,
    strict=False,
    missing="error",
    nan="error",
    onehot_dtype="u8",
    outlier_filter=True,
    counts_filter_negatives=False,
    prefetch=8,
    drop_last=False,
    rank=None,
    world_size=None,
):
    """cherimoya's ``PeakGenerator`` (0.3.1: same parameters, defaults and batches), on
    biobatch's peak loader: extraction in parallel Rust, batches filled by Rust threads into
    pooled buffers, the same batches for any ``num_workers``.

    Parameters are cherimoya's: ``peaks`` / ``negatives`` (a BED path or a list whose rows
    interleave; ``negatives=None`` needs ``negative_ratio=0``), ``sequences`` (a FASTA
    path), ``signals`` / ``controls`` (a str per one-channel group, a list of paths per
    multi-channel group such as a stranded ``[plus, minus]`` pair, whose channels swap under
    reverse complement), ``chroms``, ``in_window``, ``out_window``, ``max_jitter``,
    ``negative_ratio``, ``reverse_complement``, ``shuffle``, ``min_counts``,
    ``max_counts``, ``summits``, ``exclusion_lists``, ``random_state`` (the seed; None
    draws one, refused with more than one rank), ``pin_memory`` (pins batches when torch
    sees a GPU), ``num_workers`` (Rust threads, never processes; 0 fills batches on the
    calling thread), ``batch_size``, ``verbose`` (a progress bar). ``signal_groups`` /
    ``control_groups`` are checked against the grouping the lists give.

    biobatch's own knobs are keywords: ``cache_dir`` (keep the extraction; a second run
    starts at once), ``strict``, ``missing`` (``"error"`` | ``"zeros"`` | ``"drop"``),
    ``nan`` (``"error"`` | ``"zeros"``), ``onehot_dtype`` (``"u8"``, yielded as int8, or
    ``"f32"``), ``outlier_filter``, ``counts_filter_negatives``, ``prefetch``,
    ``drop_last``, ``rank`` / ``world_size`` (else ``torch.distributed``, else
    ``RANK`` / ``WORLD_SIZE``).

    Each pass over the returned loader is the next epoch (new order, jitter and strands),
    unless ``set_epoch`` chooses one; ``state_dict`` / ``load_state_dict`` resume at the
    exact batch.
    """
    sig, ctl = _groups(signals), _groups(controls)
    for given, groups, name in ((signal_groups, sig, "signal"), (control_groups, ctl, "control")):
        if given is not None and list(given) != [len(g) for g in groups]:
            raise ValueError(
                f"{name}_groups={list(given)} disagrees with the grouping inferred from "
                f"{name}s={[len(g) for g in groups]}"
            )
    if negatives is None and negative_ratio != 0:
        raise ValueError("negatives=None needs negative_ratio=0")
    seed = None if random_state is None else int(random_state)
    rank, world_size = resolve_rank(rank, world_size, seed)
    config = {
        "peaks": _files(peaks),
        "negatives": _files(negatives),
        "fasta": paths(sequences),
        "signals": sig,
        "controls": ctl,
        "chroms": list(chroms) if chroms else [],
        "in_window": int(in_window),
        "out_window": int(out_window),
        "max_jitter": int(max_jitter),
        "negative_ratio": float(negative_ratio),
        "reverse_complement": bool(reverse_complement),
        "shuffle": bool(shuffle),
        "summits": bool(summits),
        "seed": seed,
        "min_counts": min_counts,
        "max_counts": max_counts,
        "exclusion_lists": _files(exclusion_lists),
        "strict": bool(strict),
        "missing": missing,
        "nan": nan,
        "onehot_dtype": onehot_dtype,
        "outlier_filter": bool(outlier_filter),
        "counts_filter_negatives": bool(counts_filter_negatives),
        "cache_dir": paths(cache_dir),
        "loader": {
            "batch_size": int(batch_size),
            "num_workers": int(num_workers),
            "prefetch": int(prefetch),
            "drop_last": bool(drop_last),
            "progress": bool(verbose),
        },
    }
    native = _native.open_peaks(json.dumps(config), rank, world_size)
    loader = PeakLoader(native, config, pin_memory)
    loader.rank, loader.world_size = rank, world_size
    return loader
