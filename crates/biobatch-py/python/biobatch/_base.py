"""What every biobatch dataset shares: epochs, resume, ranks, and batches as numpy trees."""

import json
import os

from . import _native


def paths(value):
    """Paths (``str`` or ``os.PathLike``, possibly nested in lists) as strings."""
    if value is None:
        return None
    if isinstance(value, (str, os.PathLike)):
        return os.fspath(value)
    if isinstance(value, (list, tuple)):
        return [paths(v) for v in value]
    return value


class Epochs:
    """Epoch bookkeeping and resume over a native loader.

    Iterating runs the current epoch; a finished pass moves to the next epoch (so each pass
    is shuffled anew; a pass abandoned part-way does not), and :meth:`set_epoch` chooses one
    explicitly (as a ``DistributedSampler`` does). :meth:`state_dict` / :meth:`load_state_dict` carry the
    resume cursor: a dataset loaded from a state dict continues at the exact batch after the
    last one yielded before it was saved.
    """

    def __init__(self, loader):
        self._loader = loader
        self._epoch = 0
        self._resume = None
        self._active = None

    @property
    def info(self):
        """What the dataset found at open (kept and dropped records, tracks, cache)."""
        return json.loads(self._loader.info)

    @property
    def epoch(self):
        """The epoch the next iteration runs."""
        return self._epoch

    def set_epoch(self, epoch):
        """Runs epoch ``epoch`` on the next iteration (each epoch has its own order)."""
        if int(epoch) < 0:
            raise ValueError(f"epoch must be ≥ 0, not {epoch}")
        self._epoch = int(epoch)
        self._resume = None

    def __len__(self):
        """Batches per epoch (for this rank)."""
        return len(self._loader)

    def state_dict(self):
        """The resume state: the epoch and the cursor of the next batch (a few integers).

        The protocol of torchdata's ``StatefulDataLoader`` and Lightning checkpoints.
        """
        active = self._active
        if active is not None and active.remaining > 0:
            return {"epoch": active.epoch, "cursor": active.cursor, "version": 1}
        if self._resume is not None:
            return {"epoch": self._epoch, "cursor": self._resume, "version": 1}
        return {"epoch": self._epoch, "cursor": None, "version": 1}

    def load_state_dict(self, state):
        """Resumes from :meth:`state_dict`'s value: the next iteration continues there."""
        if state.get("version") != 1:
            raise ValueError(f"unknown biobatch state version {state.get('version')!r}")
        self._epoch = int(state["epoch"])
        self._resume = state.get("cursor")

    def _buffers(self):
        """The native batches (``BatchBuffer``) of the current epoch, or of the resume point."""
        if self._resume is not None:
            batches = self._loader.resume(self._resume)
            self._resume = None
        else:
            batches = self._loader.epoch(self._epoch)
        self._active = batches
        for buf in batches:
            yield buf
        if self._active is batches:
            self._active = None
            self._epoch = batches.epoch + 1

    def batch_iter(self, batch_size=None, num_workers=None, shuffle=None, drop_last=None):
        """Kipoi-style batches: ``{"inputs": …, "targets": …, "metadata": …}`` dicts of
        numpy arrays that view the loader's buffers (no copy).

        Settings given here that differ from the dataset's re-open it with them (cheap: the
        extraction is cached or the arrays are memory-mapped)."""
        changes = {
            k: v
            for k, v in dict(
                batch_size=batch_size, num_workers=num_workers, shuffle=shuffle, drop_last=drop_last
            ).items()
            if v is not None and self._settings.get(k) != v
        }
        if changes:
            self._settings.update(changes)
            self._loader = self._reopen()
        return self._trees()

    def _trees(self):
        for buf in self._buffers():
            yield buf.tree()

    @property
    def _settings(self):
        """The settings ``batch_iter`` may change (a dict the dataset owns)."""
        raise TypeError(f"{type(self).__name__} cannot change its loader settings")

    def _reopen(self):
        """A native loader with the current settings."""
        raise TypeError(f"{type(self).__name__} cannot be re-opened")

    def __iter__(self):
        return self._trees()


def digest(batch):
    """The digest of a batch dict (numpy leaves): the value ``biobatch peaks digest`` and
    ``biobatch cells digest`` print for the same content, so batches from Python can be
    compared with the command line's, or with another loader's."""
    return _native.digest(batch)
