"""A Lightning DataModule for scvi-tools over a biobatch store, modelled on TileDB-SOMA-ML's
``SCVIDataModule``: ``SCVI(...).train(datamodule=...)`` streams shuffled cells from the
store.

Needs ``lightning`` and ``torch`` (``pip install lightning``)."""

import numpy as np
import torch
from lightning import LightningDataModule

from .cells import ExperimentDataset, experiment_dataloader

DEFAULT_BATCH_COLUMNS = ("dataset_id", "assay", "suspension_type", "donor_id")


class SCVIDataModule(LightningDataModule):
    """Streams cells of a biobatch store to scVI: each batch is
    ``{"X": float32 [B, genes], "batch": int64 [B, 1], "labels": empty}``.

    The scVI batch label is the tuple of ``batch_column_names`` (joined with ``//``),
    encoded by the sorted list of labels (``batch_labels``; by default every label found in
    the selection, so save ``batch_labels`` with a model and pass it back for another
    selection). ``*args`` / ``**kwargs`` go to :class:`biobatch.cells.ExperimentDataset`
    (``obs_query``, ``layer_name``, ``batch_size``, ``seed``, ``num_workers``, …);
    ``dataloader_kwargs`` to :func:`biobatch.cells.experiment_dataloader`. scVI reads
    ``n_obs``, ``n_vars`` and ``n_batch``.
    """

    def __init__(self, store, *args, batch_column_names=None, batch_labels=None,
                 dataloader_kwargs=None, **kwargs):
        super().__init__()
        self.store = store
        self.dataset_args = args
        self.dataset_kwargs = kwargs
        self.dataloader_kwargs = dict(dataloader_kwargs or {})
        self.batch_column_names = list(batch_column_names or DEFAULT_BATCH_COLUMNS)
        self.batch_colsep = "//"
        self.batch_colname = "scvi_batch"
        if batch_labels is None:
            batch_labels = self._labels_in_selection()
        self.batch_labels = sorted(set(str(b) for b in batch_labels))
        self._codes = {label: i for i, label in enumerate(self.batch_labels)}
        self.train_dataset = None

    def _dataset(self, **override):
        kwargs = dict(self.dataset_kwargs, **override)
        kwargs["obs_column_names"] = ["soma_joinid"] + self.batch_column_names
        return ExperimentDataset(self.store, *self.dataset_args, **kwargs)

    def _labels_in_selection(self):
        scan = self._dataset(shuffle=False, return_sparse_X=True, batch_size=4096, seed=0)
        labels = set()
        for _, obs in scan:
            labels.update(self._label(obs))
        return labels

    def _label(self, obs):
        return obs[self.batch_column_names].astype(str).agg(self.batch_colsep.join, axis=1)

    def setup(self, stage=None):
        """Opens the dataset (Lightning calls this on every rank)."""
        self.train_dataset = self._dataset()

    def train_dataloader(self):
        """The training loader (threads in this process; see ``experiment_dataloader``)."""
        if self.train_dataset is None:
            self.setup()
        return experiment_dataloader(self.train_dataset, **self.dataloader_kwargs)

    def on_before_batch_transfer(self, batch, dataloader_idx):
        """``(X, obs)`` as the tensors scVI takes."""
        x, obs = batch
        labels = self._label(obs)
        try:
            codes = np.fromiter((self._codes[v] for v in labels), dtype=np.int64, count=len(labels))
        except KeyError as e:
            raise ValueError(f"batch label {e.args[0]!r} is not among batch_labels") from None
        return {
            "X": torch.from_numpy(np.asarray(x)).float(),
            "batch": torch.from_numpy(codes).unsqueeze(1),
            "labels": torch.zeros((len(codes), 1), dtype=torch.int64),
            "extra_categorical_covs": None,
            "extra_continuous_covs": None,
            "sample": None,
        }

    @property
    def n_obs(self):
        """Cells in the selection (for this rank)."""
        return self._dataset_for_shape().shape[0]

    @property
    def n_vars(self):
        """Genes."""
        return self._dataset_for_shape().shape[1]

    @property
    def n_batch(self):
        """Distinct scVI batch labels."""
        return len(self.batch_labels)

    @property
    def registry(self):
        """The setup scvi-tools 1.4 reads from a custom datamodule
        (``SCVI(adata=None, registry=dm.registry)``): X, the encoded batch, one label, no
        covariates."""
        import scvi

        n_obs, n_vars = self.n_obs, self.n_vars
        empty = {"data_registry": {}, "state_registry": {}, "summary_stats": {}}
        return {
            "scvi_version": scvi.__version__,
            "model_name": "SCVI",
            "setup_args": {
                "layer": None,
                "batch_key": self.batch_colname,
                "labels_key": "label",
                "size_factor_key": None,
                "categorical_covariate_keys": None,
                "continuous_covariate_keys": None,
            },
            "field_registries": {
                "X": {
                    "data_registry": {"attr_name": "X", "attr_key": None},
                    "state_registry": {"n_obs": n_obs, "n_vars": n_vars,
                                       "column_names": [str(i) for i in range(n_vars)]},
                    "summary_stats": {"n_vars": n_vars, "n_cells": n_obs},
                },
                "batch": {
                    "data_registry": {"attr_name": "obs", "attr_key": "_scvi_batch"},
                    "state_registry": {"categorical_mapping": self.batch_labels,
                                       "original_key": "batch"},
                    "summary_stats": {"n_batch": self.n_batch},
                },
                "labels": {
                    "data_registry": {"attr_name": "obs", "attr_key": "_scvi_labels"},
                    "state_registry": {"categorical_mapping": ["label"], "original_key": "label",
                                       "unlabeled_category": "Unknown"},
                    "summary_stats": {"n_labels": 1},
                },
                "size_factor": dict(empty),
                "extra_categorical_covs": {"data_registry": {}, "state_registry": {},
                                           "summary_stats": {"n_extra_categorical_covs": 0}},
                "extra_continuous_covs": {"data_registry": {}, "state_registry": {},
                                          "summary_stats": {"n_extra_continuous_covs": 0}},
            },
            "setup_method_name": "setup_datamodule",
        }

    def _dataset_for_shape(self):
        if self.train_dataset is None:
            self.setup()
        return self.train_dataset
