"""biobatch datasets as ``torch.utils.data.IterableDataset``.

``DataLoader(biobatch.torch.IterableDataset(ds), batch_size=None, num_workers=0)``: the
dataset already batches (with Rust threads), so the DataLoader must neither batch nor start
worker processes.
"""

import torch.utils.data as _tud


class IterableDataset(_tud.IterableDataset):
    """Wraps any biobatch dataset or loader (``PeakDataset``, ``PeakGenerator(...)``,
    ``cells.ExperimentDataset``, …) as a torch ``IterableDataset``; ``set_epoch``,
    ``state_dict`` and ``load_state_dict`` pass through, so torchdata's
    ``StatefulDataLoader`` and Lightning checkpoints resume it exactly."""

    def __init__(self, dataset):
        super().__init__()
        self.dataset = dataset

    def __iter__(self):
        info = _tud.get_worker_info()
        if info is not None:
            raise RuntimeError(
                "biobatch datasets load with Rust threads in this process: use "
                "DataLoader(..., num_workers=0) and the dataset's own num_workers"
            )
        return iter(self.dataset)

    def __len__(self):
        return len(self.dataset)

    def set_epoch(self, epoch):
        """Runs epoch ``epoch`` next."""
        self.dataset.set_epoch(epoch)

    def state_dict(self):
        """The dataset's resume state."""
        return self.dataset.state_dict()

    def load_state_dict(self, state):
        """Resumes from ``state``."""
        self.dataset.load_state_dict(state)
