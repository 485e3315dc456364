"""biobatch: fast, reproducible data loaders for genomics and single-cell deep learning.

The loaders are Rust (worker threads, pooled buffers, every batch a pure function of seed,
epoch and position); batches cross into Python as numpy arrays that view the Rust buffers.

- :func:`PeakGenerator`: cherimoya's peak/negative loader, same arguments and batches.
- :class:`PeakDataset`, :class:`IntervalDataset`, :class:`ArrayDataset`: Kipoi-style batch
  dicts of numpy arrays; :class:`ArraysDataset`: HDF5 / netCDF4 files with ragged targets.
- :mod:`biobatch.cells`: TileDB-SOMA-ML's ``ExperimentDataset`` over biobatch's store.
- :mod:`biobatch.kipoi`: Kipoi's Python API (``get_model``, ``list_models``, pipelines,
  dataloader factories) on biobatch's model zoo.
- :mod:`biobatch.torch`: a torch ``IterableDataset`` wrapper.

Errors are :class:`BiobatchError` (and ``ValueError``, ``FileNotFoundError`` or ``OSError``)
with the Rust message: file, line, field and what was expected.
"""

from ._native import __version__
from ._errors import BiobatchError, BiobatchIOError, DataFileNotFoundError, InvalidInputError
from ._base import digest
from ._dist import resolve_rank
from .datasets import ArrayDataset, ArraysDataset, IntervalDataset, PeakDataset, array_file_info
from .peakgen import PeakGenerator, PeakLoader, PeakSampler
from . import cells, kipoi

__all__ = [
    "ArrayDataset",
    "ArraysDataset",
    "array_file_info",
    "BiobatchError",
    "BiobatchIOError",
    "DataFileNotFoundError",
    "IntervalDataset",
    "InvalidInputError",
    "PeakDataset",
    "PeakGenerator",
    "PeakLoader",
    "PeakSampler",
    "cells",
    "kipoi",
    "digest",
    "resolve_rank",
    "__version__",
]
