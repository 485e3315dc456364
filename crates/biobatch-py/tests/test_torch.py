"""With torch installed (`cargo xtask test --torch`): tensors without copies, the
IterableDataset wrapper, and refused worker processes."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import biobatch  # noqa: E402
import biobatch.torch  # noqa: E402

from conftest import PEAKS  # noqa: E402


def generator(**kw):
    d = PEAKS
    return biobatch.PeakGenerator(
        d / "peaks.narrowPeak", d / "negatives.bed", d / "genome.fa",
        [[d / "signal.plus.bw", d / "signal.minus.bw"]],
        controls=[[d / "control.plus.bw", d / "control.minus.bw"]],
        random_state=2, batch_size=16, pin_memory=False, **kw,
    )


def test_the_generator_yields_torch_tensors_of_cherimoyas_dtypes():
    x, ctl, y, label = next(iter(generator()))
    assert (x.dtype, ctl.dtype, y.dtype, label.dtype) == (
        torch.int8, torch.float32, torch.float32, torch.int64
    )
    assert tuple(x.shape) == (16, 4, 2114)


def test_a_dataloader_over_the_wrapper_gives_the_same_batches():
    gen = generator()
    direct = [b[0].numpy().copy() for b in gen]
    gen.set_epoch(0)
    loader = torch.utils.data.DataLoader(
        biobatch.torch.IterableDataset(gen), batch_size=None, num_workers=0
    )
    wrapped = [b[0].numpy() for b in loader]
    assert len(direct) == len(wrapped) and all(np.array_equal(a, b) for a, b in zip(direct, wrapped))
    procs = torch.utils.data.DataLoader(
        biobatch.torch.IterableDataset(gen), batch_size=None, num_workers=1
    )
    with pytest.raises(RuntimeError, match="threads"):
        next(iter(procs))
