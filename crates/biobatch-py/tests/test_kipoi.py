"""Kipoi's Python API: the bundled ONNX model reproduces Kipoi's expected predictions."""

import csv

import numpy as np
import pytest

import biobatch.kipoi as kipoi

from conftest import PEAKS, ROOT

MODEL = ROOT / "examples" / "zoo" / "peak-cnn"


def expected():
    with open(MODEL / "expected.tsv") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return np.array([float(r["preds/0"]) for r in rows], dtype=np.float32), rows


def test_sources_and_models_are_listed():
    sources = kipoi.list_sources()
    assert "examples" in set(sources["source"])
    models = kipoi.list_models("examples")
    row = models[models["model"] == "peak-cnn"]
    assert len(row) == 1 and row["type"].iloc[0] == "onnx"


def test_the_pipeline_reproduces_kipois_expected_predictions(tmp_path):
    want, rows = expected()
    model = kipoi.get_model("peak-cnn", source="examples")
    assert model.type == "onnx"
    assert model.schema["inputs"]["shape"] in ("(4, 500)", [4, 500])
    got = model.pipeline.predict_example(batch_size=7)
    assert got.shape == (len(want), 1)
    np.testing.assert_allclose(got[:, 0], want, atol=1e-5)

    args = {"intervals_file": MODEL / "example" / "intervals.bed", "fasta_file": PEAKS / "genome.fa"}
    batches = list(model.pipeline.predict_generator(args, batch_size=16))
    assert [len(b) for b in batches] == [16, 16, 8]
    np.testing.assert_allclose(model.pipeline.predict(args, batch_size=5)[:, 0], want, atol=1e-5)

    out = tmp_path / "preds.tsv"
    report = model.pipeline.predict_to_file(out, args, batch_size=9)
    assert report["rows"] == len(want)
    with open(out) as f:
        written = list(csv.DictReader(f, delimiter="\t"))
    assert [r["metadata/ranges/start"] for r in written] == [r["metadata/ranges/start"] for r in rows]
    np.testing.assert_allclose([float(r["preds/0"]) for r in written], want, atol=1e-5)


def test_dataloaders_feed_predict_on_batch_as_in_kipoi():
    want, _ = expected()
    model = kipoi.get_model("peak-cnn", source="examples")
    dl = model.default_dataloader.init_example()
    assert len(dl) == len(want)
    preds = [model.predict_on_batch(b["inputs"]) for b in dl.batch_iter(batch_size=12)]
    np.testing.assert_allclose(np.concatenate(preds)[:, 0], want, atol=1e-5)
    one = dl[3]
    assert one["inputs"].shape == (4, 500)
    assert one["metadata"]["ranges"]["chr"] == "chr2"
    everything = dl.load_all(batch_size=10)
    assert everything["inputs"].shape == (len(want), 4, 500)

    Dl = kipoi.get_dataloader_factory("kipoiseq.dataloaders.SeqIntervalDl")
    assert "intervals_file" in Dl.args
    same = Dl(intervals_file=MODEL / "example" / "intervals.bed", fasta_file=PEAKS / "genome.fa",
              auto_resize_len=500, alphabet_axis=0)
    first = next(same.batch_iter(batch_size=4))
    assert np.array_equal(first["inputs"], everything["inputs"][:4])


def test_a_missing_model_and_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="no-such-model"):
        kipoi.get_model("no-such-model")
    model = kipoi.get_model("peak-cnn", source="examples")
    with pytest.raises(ValueError):
        model.predict_on_batch(np.zeros((2, 500, 4), dtype=np.float32))
