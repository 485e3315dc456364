"""Bad input raises the exception a Python user expects, with the command line's message."""

import pytest

import biobatch

from conftest import PEAKS


def cli_error(cli, *args):
    code, _, err = cli("peaks", "check", *args)
    assert code == 1, err
    prefix = "biobatch: error: "
    line = [l for l in err.splitlines() if l.startswith(prefix)][-1]
    return line[len(prefix):]


CASES = [
    # (CLI arguments, dataset keywords, exception)
    (("--fasta", "/nonexistent/genome.fa", "--peaks", PEAKS / "peaks.narrowPeak", "--no-cache"),
     dict(fasta="/nonexistent/genome.fa", peaks=[PEAKS / "peaks.narrowPeak"]),
     FileNotFoundError),
    (("--fasta", PEAKS / "genome.fa", "--peaks", PEAKS / "peaks.narrowPeak", "--in-window", "0", "--no-cache"),
     dict(fasta=PEAKS / "genome.fa", peaks=[PEAKS / "peaks.narrowPeak"], in_window=0),
     ValueError),
    (("--fasta", PEAKS / "genome.fa", "--peaks", PEAKS / "genome.fa", "--no-cache"),
     dict(fasta=PEAKS / "genome.fa", peaks=[PEAKS / "genome.fa"]),
     ValueError),
    (("--fasta", PEAKS / "genome.fa", "--peaks", PEAKS / "peaks.narrowPeak", "--negative-ratio", "1e15", "--no-cache"),
     dict(fasta=PEAKS / "genome.fa", peaks=[PEAKS / "peaks.narrowPeak"], negative_ratio=1e15,
          negatives=[PEAKS / "negatives.bed"]),
     ValueError),
]


@pytest.mark.parametrize("args,kwargs,kind", CASES)
def test_each_bad_input_raises_the_right_type_with_the_clis_message(cli, args, kwargs, kind):
    if "negatives" in kwargs:
        args = args + ("--negatives", PEAKS / "negatives.bed")
    expected = cli_error(cli, *args)
    with pytest.raises(kind) as e:
        biobatch.PeakDataset(**kwargs)
    assert isinstance(e.value, biobatch.BiobatchError)
    assert str(e.value) == expected


def test_unknown_settings_are_refused_by_name():
    with pytest.raises(ValueError, match="batchsize"):
        biobatch.PeakDataset(fasta=PEAKS / "genome.fa", peaks=[PEAKS / "peaks.narrowPeak"], batchsize=3)


def test_unseeded_runs_across_ranks_are_refused():
    with pytest.raises(ValueError, match="no seed was given"):
        biobatch.PeakDataset(
            fasta=PEAKS / "genome.fa", peaks=[PEAKS / "peaks.narrowPeak"], rank=0, world_size=2
        )


def cells_cli_error(cli, *args):
    code, _, err = cli("cells", "digest", *args, "--batches", "1")
    assert code == 1, err
    prefix = "biobatch: error: "
    return [l for l in err.splitlines() if l.startswith(prefix)][-1][len(prefix):]


@pytest.mark.parametrize("cli_args,kwargs,kind", [
    (("--filter", "no_such_column = 1"), dict(obs_query="no_such_column = 1"), ValueError),
    (("--var-filter", "gene_name LIKE"), dict(var_query="gene_name LIKE"), ValueError),
    (("--layer", "raw"), dict(layer_name="raw"), ValueError),
])
def test_cells_errors_are_the_command_lines(cli, store, cli_args, kwargs, kind):
    import biobatch.cells as cells

    expected = cells_cli_error(cli, store, *cli_args)
    with pytest.raises(kind) as e:
        cells.ExperimentDataset(store, seed=1, **kwargs)
    assert str(e.value) == expected


def test_a_missing_store_is_file_not_found(cli, tmp_path):
    import biobatch.cells as cells

    expected = cells_cli_error(cli, tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError) as e:
        cells.ExperimentDataset(tmp_path / "nowhere")
    assert str(e.value) == expected
