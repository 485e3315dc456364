"""Type stubs of the native module (``biobatch._native``): the Rust loader and its batches."""

from typing import Any, Iterator, Optional

import numpy as np

__version__: str

class Loader:
    """A Rust loader: a dataset, its sampling plan and worker threads. Every batch is a pure
    function of (seed, epoch, batch index): the same stream for any ``num_workers``."""

    def __len__(self) -> int:
        """Batches per epoch (for this rank)."""
    @property
    def num_items(self) -> int:
        """Samples per epoch that the batches cover (for this rank)."""
    @property
    def batch_size(self) -> int:
        """Samples per batch."""
    @property
    def num_workers(self) -> int:
        """Worker threads (0: batches are computed on the calling thread)."""
    @property
    def info(self) -> str:
        """What the dataset found at open, as JSON."""
    @property
    def pooled_buffers(self) -> int:
        """Batch buffers waiting in the loader's pool (returned, not yet reused)."""
    @property
    def positions(self) -> int:
        """Samples per epoch in the plan (before batching)."""
    def get(self, epoch: int, start: int, end: int) -> BatchBuffer:
        """The samples at positions ``start..end`` of ``epoch``, as the epoch's batches hold
        them (a map-style view of the stream; computed on the calling thread)."""
    def drain(self, epoch: int) -> tuple[int, float]:
        """Runs ``epoch`` to its end in Rust (GIL released, no batch reaches Python):
        ``(examples, seconds)``, the native rate a Python loop is measured against."""
    def epoch(self, epoch: int) -> Batches:
        """The batches of ``epoch``, from the first."""
    def resume(self, cursor: str) -> Batches:
        """The batches after ``cursor``: exactly those an uninterrupted run gives next."""

class Batches:
    """The batches of one epoch, in plan order; ``__next__`` waits with the GIL released
    and checks for Ctrl-C every 50 ms; a worker's error is raised and ends the iteration."""

    def __iter__(self) -> Iterator[BatchBuffer]: ...
    def __next__(self) -> BatchBuffer: ...
    @property
    def cursor(self) -> str:
        """The cursor that resumes at the batch this iterator yields next."""
    @property
    def epoch(self) -> int:
        """The epoch."""
    @property
    def remaining(self) -> int:
        """Batches left to yield."""
    @property
    def wait_s(self) -> float:
        """Seconds the consumer waited for batches so far."""

class BatchBuffer:
    """One batch, owning its memory; numpy views keep it alive and it returns to the pool
    when the last is gone."""

    def tree(self) -> dict[str, Any]:
        """Kipoi's nested dict of numpy arrays viewing this buffer (no copy)."""
    def array(self, path: str) -> Any:
        """One leaf by path (``"inputs/seq"``): a numpy view, or a :class:`Csr`."""
    def arrays(
        self, paths: tuple[str, ...], casts: Optional[tuple[Optional[str], ...]] = None
    ) -> tuple[Any, ...]:
        """Several leaves in one call, in the order of ``paths`` (views, no copy). ``casts``
        has one entry per path: ``None`` (the view), ``"int8"`` (a uint8 leaf's bytes as
        int8, no copy) or ``"int64"`` (an integer leaf copied to int64)."""
    @property
    def epoch(self) -> int: ...
    @property
    def index(self) -> int: ...
    @property
    def cursor_after(self) -> Optional[str]:
        """The cursor that resumes right after this batch (None for ``Loader.get``)."""
    @property
    def nbytes(self) -> int: ...
    def __len__(self) -> int: ...
    def digest(self) -> str:
        """The batch digest, as ``biobatch peaks digest`` prints it."""

class Csr:
    """A sparse leaf: compressed sparse rows viewing the batch buffer."""

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    shape: tuple[int, int]

def digest(batch: dict[str, Any]) -> str:
    """The digest of a batch dict of numpy arrays (copied)."""

def open_peaks(config: str, rank: int, world_size: int) -> Loader: ...
def open_intervals(config: str, rank: int, world_size: int) -> Loader: ...
def open_cells(config: str, rank: int, world_size: int) -> Loader: ...
def open_array_file(config: str, rank: int, world_size: int) -> Loader: ...
def array_file_info(path: str) -> str:
    """The variables, dimensions and storage of an array file, as JSON."""
def open_arrays(
    arrays: list[tuple[str, str, str, Optional[str]]],
    seed: Optional[int],
    shuffle: bool,
    batch_size: int,
    num_workers: int,
    prefetch: int,
    drop_last: bool,
    rank: int,
    world_size: int,
) -> Loader: ...
def slow_test_loader(
    records: int, batch_size: int, num_workers: int, delay_ms: int, fail_at: Optional[int] = None
) -> Loader: ...
def import_mtx(dir: str, out: str, layer: str) -> str: ...
def import_h5ad(file: str, out: str, layer: str) -> str: ...
def import_anndata_zarr(store: str, out: str, layer: str) -> str: ...
def store_info(store: str) -> str: ...

# With the `kipoi` feature (the package's default build): the model zoo.
def zoo_sources() -> str: ...
def zoo_models(source: Optional[str] = None) -> str: ...
def zoo_model(name: str, source: Optional[str] = None) -> ZooModel: ...
def zoo_dataloader(name: str, args: str, batch_size: int, num_workers: int) -> Loader: ...
def zoo_dataloader_spec(name: str) -> str: ...

class ZooModel:
    """A zoo model, resolved and loaded."""

    @property
    def name(self) -> str: ...
    @property
    def dir(self) -> str: ...
    def spec(self) -> str:
        """``model.yaml`` in Kipoi's layout, as JSON."""
    def dataloader_args(self, args: str, example: bool) -> str:
        """The model's dataloader and its merged arguments, as JSON."""
    def predict_on_batch(self, inputs: Any) -> Any:
        """Predictions for one batch's inputs."""
    def predict_buffer(self, buf: BatchBuffer) -> Any:
        """Predictions for a loader's batch (inputs not copied)."""
    def predict_to_file(self, args: str, out: str, batch_size: int, num_workers: int) -> str:
        """Predictions with metadata to Parquet / TSV / bigWig; the report as JSON."""
