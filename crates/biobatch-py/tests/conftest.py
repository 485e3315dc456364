"""Fixtures: the bundled example data, the test fixtures, and the `biobatch` command line
(built by `cargo test`; `cargo xtask test` passes its path in BIOBATCH_BIN)."""

import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
PEAKS = ROOT / "examples" / "data" / "peaks"
SOMA = ROOT / "tests" / "data" / "soma"
# The bundled examples (the `examples` zoo source among them), wherever pytest runs from.
os.environ.setdefault("BIOBATCH_EXAMPLES", str(ROOT / "examples"))


def _bin():
    given = os.environ.get("BIOBATCH_BIN")
    if given:
        return pathlib.Path(given)
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    return target / "debug" / "biobatch"


@pytest.fixture(scope="session")
def cli():
    """Runs the `biobatch` command line; returns (exit code, stdout lines, stderr)."""
    exe = _bin()
    if not exe.exists():
        pytest.fail(f"no biobatch binary at {exe}: run `cargo build -p biobatch` or set BIOBATCH_BIN")

    def run(*args):
        p = subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True)
        return p.returncode, p.stdout.splitlines(), p.stderr

    return run


@pytest.fixture(scope="session")
def example_peaks():
    """The settings of `biobatch peaks --example` (PeakConfig::example), without a cache."""
    d = PEAKS
    return dict(
        peaks=[d / "peaks.narrowPeak"],
        negatives=[d / "negatives.bed"],
        fasta=d / "genome.fa",
        signals=[[d / "signal.plus.bw", d / "signal.minus.bw"]],
        controls=[[d / "control.plus.bw", d / "control.minus.bw"]],
        exclusion_lists=[d / "exclusion.bed"],
        negative_ratio=0.33,
        summits=True,
        seed=1,
        batch_size=64,
    )


@pytest.fixture(scope="session")
def store(tmp_path_factory, cli):
    """The 10x v3 fixture imported into a store (1,107 cells, 507 genes), by the Python API."""
    import biobatch.cells

    out = tmp_path_factory.mktemp("cells") / "pbmc"
    summary = biobatch.cells.import_mtx(SOMA / "10x_v3", out)
    assert (summary["n_obs"], summary["n_vars"]) == (1107, 507)
    return out
