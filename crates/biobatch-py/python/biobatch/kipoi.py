"""Kipoi's Python API on biobatch's model zoo.

Switching from Kipoi::

    # import kipoi
    import biobatch.kipoi as kipoi

    model = kipoi.get_model("peak-cnn")
    preds = model.pipeline.predict_example(batch_size=32)
    Dl = kipoi.get_dataloader_factory("kipoiseq.dataloaders.SeqIntervalDl")
    for batch in Dl(intervals_file="a.bed", fasta_file="genome.fa").batch_iter(batch_size=64):
        model.predict_on_batch(batch["inputs"])

Models run natively: ONNX through tract (the Python package is built without burn, so BPNet
zoo models raise and say to use the ``biobatch`` command line). A model of a type biobatch
cannot run (Keras, PyTorch, …) raises with the advice to convert it to ONNX. Sources,
``model.yaml`` / ``dataloader.yaml`` and the dataloaders are those of ``biobatch zoo``
(docs/zoo.md).
"""

import json

import numpy as np

from . import _native
from ._base import paths


def _require():
    if not hasattr(_native, "zoo_model"):
        raise ImportError(
            "this biobatch was built without the Kipoi API: build the package with the "
            "`kipoi` feature (the default of `pip install ./crates/biobatch-py`)"
        )


def list_sources():
    """The configured model sources as a pandas DataFrame (``source``, ``type``,
    ``local_path``, …), as ``kipoi.list_sources()``."""
    import pandas as pd

    _require()
    rows = []
    for name, spec in json.loads(_native.zoo_sources()).items():
        row = {"source": name}
        row.update(spec if isinstance(spec, dict) else {"type": spec})
        rows.append(row)
    return pd.DataFrame(rows)


def list_models(sources=None):
    """Every model of the sources (a name, a list of names, or all) as a pandas DataFrame:
    ``source``, ``model``, ``type``, ``doc``, ``authors``, ``license``, ``tags``,
    ``inputs``, ``targets`` — as ``kipoi.list_models()``."""
    import pandas as pd

    _require()
    if sources is None or isinstance(sources, str):
        rows = json.loads(_native.zoo_models(sources))
    else:
        rows = [r for s in sources for r in json.loads(_native.zoo_models(s))]
    return pd.DataFrame(rows, columns=["source", "model", "type", "doc", "authors", "license",
                                       "tags", "inputs", "targets"])


def _concat(parts):
    """Per-batch prediction trees joined along the batch axis."""
    first = parts[0]
    if isinstance(first, dict):
        return {k: _concat([p[k] for p in parts]) for k in first}
    if isinstance(first, list):
        return [_concat([p[i] for p in parts]) for i in range(len(first))]
    return np.concatenate([np.asarray(p) for p in parts])


def _row(tree, i):
    if isinstance(tree, dict):
        return {k: _row(v, i) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_row(v, i) for v in tree]
    return np.array(tree[i])


class ZooDataloader:
    """A dataloader of the zoo (Kipoi's dataloader instance): ``len()`` records,
    ``dl[i]`` one sample, ``batch_iter(batch_size)`` Kipoi batches (numpy arrays viewing the
    loader's buffers), ``load_all()`` everything in one batch. Records come once each, in
    file order; ``num_workers`` are Rust threads."""

    #: The registry name (e.g. ``kipoiseq.dataloaders.SeqIntervalDl``).
    name = None
    #: The arguments as ``dataloader.yaml`` describes them.
    args = {}
    #: The output schema as ``dataloader.yaml`` describes it.
    output_schema = {}
    #: ``info`` of ``dataloader.yaml``.
    info = {}
    #: Example arguments (``init_example()`` uses them).
    example_kwargs = {}

    def __init__(self, **kwargs):
        self.kwargs = {k: paths(v) for k, v in kwargs.items()}
        self._loaders = {}

    @classmethod
    def init_example(cls):
        """An instance with the spec's example arguments."""
        return cls(**cls.example_kwargs)

    def _loader(self, batch_size=32, num_workers=2):
        key = (batch_size, num_workers)
        if key not in self._loaders:
            self._loaders[key] = _native.zoo_dataloader(
                self.name, json.dumps(self._args()), batch_size, num_workers
            )
        return self._loaders[key]

    def _args(self):
        return self.kwargs

    def __len__(self):
        return json.loads(self._loader().info)["records"]

    def __getitem__(self, i):
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"index {i} is not in 0..{n}")
        return _row(self._loader().get(0, i, i + 1).tree(), 0)

    def batch_iter(self, batch_size=32, num_workers=2, **kwargs):
        """Kipoi batches ``{"inputs", "targets", "metadata"}`` of numpy arrays."""
        for buf in self._loader(batch_size, num_workers).epoch(0):
            yield buf.tree()

    def _buffers(self, batch_size=32, num_workers=2):
        return self._loader(batch_size, num_workers).epoch(0)

    def load_all(self, batch_size=32, num_workers=2, **kwargs):
        """The whole dataset as one batch (copied)."""
        return _concat([b for b in self.batch_iter(batch_size, num_workers)])


def _factory(name, spec, example_kwargs, base_args=None):
    spec = spec or {}
    attrs = {
        "name": name,
        "args": spec.get("args", {}),
        "output_schema": spec.get("output_schema", {}),
        "info": spec.get("info", {}),
        "example_kwargs": example_kwargs,
        "__doc__": (spec.get("info", {}) or {}).get("doc") or ZooDataloader.__doc__,
    }
    if base_args is not None:
        attrs["_args"] = lambda self: dict(base_args, **self.kwargs)
    return type(name.rsplit(".", 1)[-1], (ZooDataloader,), attrs)


def get_dataloader_factory(dataloader, source=None):
    """The dataloader class for a registry name (``kipoiseq.dataloaders.SeqIntervalDl``,
    ``biobatch.PeakDataset``, …) or a model's dataloader (a model name), as
    ``kipoi.get_dataloader_factory``."""
    _require()
    spec = json.loads(_native.zoo_dataloader_spec(dataloader))
    if spec is not None:
        example = {k: v["example"] for k, v in (spec.get("args") or {}).items()
                   if isinstance(v, dict) and "example" in v}
        return _factory(dataloader, spec, example)
    return get_model(dataloader, source=source).default_dataloader


class Pipeline:
    """Kipoi's model pipeline: the model's default dataloader feeding the model."""

    def __init__(self, model):
        self.model = model

    def _dataloader(self, dataloader_kwargs, example=False):
        choice = json.loads(self.model._native.dataloader_args(json.dumps(
            {k: paths(v) for k, v in (dataloader_kwargs or {}).items()}), example))
        return choice

    def predict_generator(self, dataloader_kwargs, batch_size=32, num_workers=2, **kwargs):
        """Predictions batch by batch (dicts / arrays as the model's targets)."""
        choice = self._dataloader(dataloader_kwargs)
        loader = _native.zoo_dataloader(choice["name"], json.dumps(choice["args"]), batch_size,
                                        num_workers)
        for buf in loader.epoch(0):
            yield self.model._native.predict_buffer(buf)

    def predict(self, dataloader_kwargs, batch_size=32, num_workers=2, **kwargs):
        """All predictions, joined along the batch axis."""
        parts = [np_tree(p) for p in self.predict_generator(dataloader_kwargs, batch_size,
                                                            num_workers)]
        return _concat(parts)

    def predict_example(self, batch_size=32, output_file=None, num_workers=2, **kwargs):
        """Predictions on the dataloader's example files (written to ``output_file`` when
        given, else returned)."""
        choice = self._dataloader({}, example=True)
        if output_file is not None:
            return self.predict_to_file(output_file, choice["args"], batch_size, num_workers)
        loader = _native.zoo_dataloader(choice["name"], json.dumps(choice["args"]), batch_size,
                                        num_workers)
        return _concat([np_tree(self.model._native.predict_buffer(b)) for b in loader.epoch(0)])

    def predict_to_file(self, output_file, dataloader_kwargs, batch_size=32, num_workers=2,
                        **kwargs):
        """Predictions with the batch metadata to ``output_file`` (Parquet, TSV or bigWig
        by extension; written to a temporary file, then renamed); returns the report."""
        return json.loads(self.model._native.predict_to_file(
            json.dumps({k: paths(v) for k, v in (dataloader_kwargs or {}).items()}),
            paths(output_file), batch_size, num_workers))


def np_tree(tree):
    """A prediction tree with its arrays copied out of the Rust buffer."""
    if isinstance(tree, dict):
        return {k: np_tree(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [np_tree(v) for v in tree]
    return np.array(tree)


class Model:
    """A zoo model, as ``kipoi.get_model`` returns it: ``info``, ``schema``, ``args``,
    ``type``, ``default_dataloader`` (a dataloader class with the model's defaults),
    ``predict_on_batch(inputs)`` and ``pipeline``."""

    def __init__(self, native):
        self._native = native
        spec = json.loads(native.spec())
        self.name = native.name
        self.source_dir = native.dir
        self.type = spec.get("type")
        self.args = spec.get("args", {})
        self.info = spec.get("info", {})
        self.schema = spec.get("schema", {})
        self.spec = spec
        self.pipeline = Pipeline(self)
        choice = json.loads(native.dataloader_args("{}", False))
        example = json.loads(native.dataloader_args("{}", True))["args"]
        self.default_dataloader = _factory(choice["name"], choice["spec"],
                                           {k: v for k, v in example.items()
                                            if choice["args"].get(k) != v},
                                           base_args=choice["args"])

    def predict_on_batch(self, x):
        """Predictions for one batch of inputs (an array, or a dict / list of arrays as the
        model's schema says)."""
        return self._native.predict_on_batch(x)

    def __repr__(self):
        return f"biobatch.kipoi.Model({self.name!r}, type={self.type!r})"


def get_model(model, source=None, with_dataloader=True):
    """A model by name (in ``source``, or the first source that has it, or a folder with a
    ``model.yaml``), loaded, as ``kipoi.get_model``."""
    _require()
    return Model(_native.zoo_model(paths(model), source))
