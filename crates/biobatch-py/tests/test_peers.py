"""The peers' own training functions on biobatch's loader, unmodified (with
`cargo xtask test --torch`, which installs torch, lightning and cherimoya 0.3.1 with
bpnet-lite): bpnet-lite's `BPNet.fit` iterates the loader, cherimoya's `training.fit` builds
its own DataLoader over `loader.dataset` (indices as `(epoch, idx)` pairs)."""

import math

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("lightning")
pytest.importorskip("cherimoya")
pytest.importorskip("bpnetlite")

import biobatch  # noqa: E402

from conftest import PEAKS  # noqa: E402

D = PEAKS
KW = dict(controls=[[D / "control.plus.bw", D / "control.minus.bw"]], random_state=1, pin_memory=False)
SIGNALS = [[D / "signal.plus.bw", D / "signal.minus.bw"]]


def training():
    return biobatch.PeakGenerator(D / "peaks.narrowPeak", D / "negatives.bed", D / "genome.fa",
                                  SIGNALS, batch_size=32, chroms=["chr1"], **KW)


def validation():
    valid = biobatch.PeakGenerator(D / "peaks.narrowPeak", None, D / "genome.fa", SIGNALS,
                                   negative_ratio=0, max_jitter=0, reverse_complement=False,
                                   shuffle=False, batch_size=64, chroms=["chr2"], **KW)
    x, xc, y = [torch.cat(t) for t in zip(*[(b[0], b[1], b[2]) for b in valid])]
    return x.float(), xc, y


def test_bpnet_lite_fits_on_the_loader(tmp_path):
    from bpnetlite import BPNet

    x, xc, y = validation()
    model = BPNet(n_filters=8, n_layers=2, n_outputs=2, n_control_tracks=2,
                  name=str(tmp_path / "bpnet"), trimming=557, verbose=False)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.fit(training(), opt, X_valid=x, X_ctl_valid=xc, y_valid=y, max_epochs=2, device="cpu")
    assert (tmp_path / "bpnet.torch").exists()
    rows = (tmp_path / "bpnet.log").read_text().strip().splitlines()
    assert len(rows) >= 3, "a header and one row per epoch"


def test_cherimoyas_fit_takes_the_generators_dataset(tmp_path):
    from cherimoya.cherimoya import Cherimoya
    from cherimoya.training import fit

    x, xc, y = validation()
    model = Cherimoya(n_filters=8, n_layers=2, signal_groups=[2], n_control_tracks=2,
                      name=str(tmp_path / "cheri"), verbose=False, compile=False, random_state=0,
                      trimming=557)
    trainer = fit(model, training().dataset, x, y, X_ctl_valid=xc, max_epochs=1,
                  accelerator="cpu", batch_size=32, num_workers=0)
    assert math.isfinite(float(trainer.checkpoint_callback.best_model_score))
    assert (tmp_path / "cheri.torch").exists()
