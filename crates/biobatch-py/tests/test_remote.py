"""Inputs at URLs through the Python API: a store uploaded to moto's S3 server (started here,
on 127.0.0.1, and stopped after) by boto3 gives the batches of the local store, and the peak
generator reads its files from the same server."""

import os
import socket

import pytest

import biobatch
import biobatch.cells as cells

moto_server = pytest.importorskip("moto.server")  # cargo xtask test installs moto[server]
boto3 = pytest.importorskip("boto3")

SETTINGS = dict(batch_size=64, io_batch_size=256, shuffle_chunk_size=32, seed=5)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """moto's S3 server, and the environment that points object_store (and boto3) at it."""
    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {
        "AWS_ENDPOINT": f"http://127.0.0.1:{port}",
        "AWS_ALLOW_HTTP": "true",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "BIOBATCH_CACHE_DIR": str(tmp_path_factory.mktemp("remote-cache")),
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    client = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT"], region_name="us-east-1")
    client.create_bucket(Bucket="bbpy")
    yield client
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    server.stop()


def upload(client, local_dir, prefix):
    for path in sorted(local_dir.rglob("*")):
        if path.is_file():
            client.upload_file(str(path), "bbpy", f"{prefix}/{path.relative_to(local_dir).as_posix()}")


def digests(ds, n=6):
    out = []
    for buf in ds._buffers():
        out.append(biobatch.digest(buf.tree()))
        if len(out) == n:
            break
    return out


def test_a_store_in_s3_gives_the_local_batches(s3, store):
    upload(s3, store, "pbmc")
    url = "s3://bbpy/pbmc"
    info = cells.open_store(url)
    assert (info["n_obs"], info["n_vars"]) == (1107, 507)
    local = digests(cells.ExperimentDataset(store, **SETTINGS))
    assert digests(cells.ExperimentDataset(url, **SETTINGS)) == local
    # Sparse batches hold the same values.
    a = next(iter(cells.ExperimentDataset(url, return_sparse_X=True, **SETTINGS)))[0]
    b = next(iter(cells.ExperimentDataset(store, return_sparse_X=True, **SETTINGS)))[0]
    assert (a != b).nnz == 0


def test_a_peak_dataset_reads_its_files_from_s3(s3, example_peaks):
    d = example_peaks["fasta"].parent
    upload(s3, d, "peaks")
    url = lambda name: f"s3://bbpy/peaks/{name}"  # noqa: E731
    remote = dict(example_peaks)
    remote.update(
        peaks=[url("peaks.narrowPeak")],
        negatives=[url("negatives.bed")],
        fasta=url("genome.fa"),
        signals=[[url("signal.plus.bw"), url("signal.minus.bw")]],
        controls=[[url("control.plus.bw"), url("control.minus.bw")]],
        exclusion_lists=[url("exclusion.bed")],
    )
    a = biobatch.PeakDataset(**example_peaks)
    b = biobatch.PeakDataset(**remote)
    assert digests(b, 4) == digests(a, 4)


def test_a_missing_object_is_named(s3):
    with pytest.raises(Exception, match="s3://bbpy/nope/manifest.json"):
        cells.open_store("s3://bbpy/nope")
