"""Times TileDB-SOMA-ML's loader on the bench cells experiment, for `cargo xtask compare`.

Usage: python cells_tiledbsoma_ml.py SOMA_URI EPOCHS [NUM_WORKERS]

SOMA_URI is the experiment made by cells_to_soma.py (measurement "RNA", X layer "counts",
float32). Settings match biobatch's cells bench: batch 256, shuffle on, IO batch 65536 cells,
shuffle chunk 64 cells, seed 1, dense float32 X, obs columns soma_joinid and obs_id.

The loader is tiledbsoma_ml.ExperimentDataset wrapped by tiledbsoma_ml.experiment_dataloader
(a torch DataLoader with batch_size=None and a no-op collate, so each item is one
(X ndarray, obs DataFrame) mini-batch). Each batch's X is handed to torch with
torch.from_numpy, as a training loop would; nothing is moved to a GPU.

Without NUM_WORKERS the script runs itself once with 0 workers and once with 2, each in a
fresh process so that import time and peak RSS belong to that configuration alone. Each run
prints one JSON line; a run that fails prints a line with its exit status and error instead.

set_epoch(e) is called before every epoch, as the docs ask. Whether epochs differ in order is
checked on the soma_joinids of the first 1000 cells of epochs 0 and 1; with EPOCHS=1 an extra,
untimed partial epoch 1 is read just for that check. After timing, the first batch's row sums
are checked against obs.total_counts.
"""
import json
import os
import resource
import statistics
import subprocess
import sys
import time

BATCH_SIZE = 256
IO_BATCH_SIZE = 65536
SHUFFLE_CHUNK_SIZE = 64
SEED = 1
OBS_COLUMNS = ["soma_joinid", "obs_id"]
ORDER_CELLS = 1000  # cells compared between epoch 0 and epoch 1


def first_ids(loader, n):
    """soma_joinids of the first n cells one pass of loader yields (stops early)."""
    ids = []
    it = iter(loader)
    for _, obs in it:
        ids.extend(obs["soma_joinid"].tolist())
        if len(ids) >= n:
            break
    del it  # shuts the DataLoader's workers down, if any
    return ids[:n]


def run_one(uri, epochs, workers):
    t0 = time.perf_counter()
    import numpy as np
    import torch
    import tiledbsoma
    import tiledbsoma_ml
    from tiledbsoma_ml import ExperimentDataset, experiment_dataloader
    import_s = time.perf_counter() - t0

    with tiledbsoma.Experiment.open(uri) as exp:
        # Building the dataset reads every obs soma_joinid of the query (all cells here) and
        # records how to reopen X; the DataLoader itself is cheap to make.
        t0 = time.perf_counter()
        with exp.axis_query(measurement_name="RNA") as query:
            ds = ExperimentDataset(
                query,
                layer_name="counts",
                obs_column_names=OBS_COLUMNS,
                batch_size=BATCH_SIZE,
                io_batch_size=IO_BATCH_SIZE,
                shuffle=True,
                shuffle_chunk_size=SHUFFLE_CHUNK_SIZE,
                seed=SEED,
                return_sparse_X=False,  # dense X
            )
        loader = experiment_dataloader(ds, num_workers=workers)
        setup_s = time.perf_counter() - t0
        n_obs = len(ds.query_ids.obs_joinids)

        first_batch_s, first_batch = None, None
        epoch_s, epoch_cells, epoch_ids, nbytes = [], [], [], 0
        for epoch in range(epochs):
            ds.set_epoch(epoch)  # before the iterator is made, as the docs require
            ids = []
            n = 0
            t = time.perf_counter()
            for X, obs in loader:
                x = torch.from_numpy(X)  # zero-copy view, what a training loop would take
                if first_batch_s is None:
                    first_batch_s = time.perf_counter() - t
                    first_batch = {
                        "x": [list(x.shape), str(x.dtype).replace("torch.", "")],
                        "obs_columns": list(obs.columns),
                        "row_sums": x.sum(dim=1, dtype=torch.float64).tolist(),
                        "ids": obs["soma_joinid"].tolist(),
                    }
                n += x.shape[0]
                nbytes += x.numel() * x.element_size()
                ids.append(obs["soma_joinid"].to_numpy())
            epoch_s.append(time.perf_counter() - t)
            epoch_cells.append(n)
            epoch_ids.append(np.concatenate(ids))

        # Order check: epoch 1's first cells, from the timed run or from an untimed probe.
        ids0 = epoch_ids[0][:ORDER_CELLS].tolist()
        if epochs >= 2:
            ids1, probed = epoch_ids[1][:ORDER_CELLS].tolist(), False
        else:
            ds.set_epoch(1)
            ids1, probed = first_ids(loader, ORDER_CELLS), True

        # Correctness: each epoch yields every cell once, and X rows match obs.total_counts.
        every_cell_once = all(len(e) == n_obs and len(np.unique(e)) == n_obs for e in epoch_ids)
        tc = (exp.obs.read(coords=(first_batch["ids"],),
                           column_names=["soma_joinid", "total_counts"])
              .concat().to_pandas().set_index("soma_joinid")["total_counts"])
        row_sums_ok = bool(np.allclose(first_batch["row_sums"],
                                       tc.loc[first_batch["ids"]].to_numpy()))

    mb = lambda who: resource.getrusage(who).ru_maxrss / 1024.0
    total_cells = sum(epoch_cells)
    print(json.dumps({
        "area": "compare",
        "case": "cells_tiledbsoma_ml",
        "tiledbsoma": tiledbsoma.__version__,
        "tiledbsoma_ml": tiledbsoma_ml.__version__,
        "torch": torch.__version__,
        "num_workers": workers,
        "batch_size": BATCH_SIZE,
        "io_batch_size": IO_BATCH_SIZE,
        "shuffle_chunk_size": SHUFFLE_CHUNK_SIZE,
        "seed": SEED,
        "epochs": epochs,
        "import_s": import_s,
        "setup_s": setup_s,
        "first_batch_s": first_batch_s,
        "cells_per_epoch": epoch_cells[0],
        "cells_per_s": total_cells / sum(epoch_s),
        "cells_per_s_median_epoch": statistics.median(c / s for c, s in zip(epoch_cells, epoch_s)),
        "output_bytes_per_s": nbytes / sum(epoch_s),
        "epochs_s": epoch_s,
        "peak_rss_mb": mb(resource.RUSAGE_SELF),
        "peak_rss_children_mb": mb(resource.RUSAGE_CHILDREN),
        "first_batch": {"x": first_batch["x"], "obs_columns": first_batch["obs_columns"]},
        "every_cell_once": every_cell_once,
        "row_sums_match_total_counts": row_sums_ok,
        "same_order_epoch0_epoch1": ids0 == ids1,
        "epoch1_order_probed_untimed": probed,
    }))


def main():
    uri, epochs = sys.argv[1], int(sys.argv[2])
    if len(sys.argv) > 3:
        run_one(uri, epochs, int(sys.argv[3]))
        return
    # One fresh process per configuration; stdout (the JSON line) passes straight through.
    for workers in (0, 2):
        proc = subprocess.run([sys.executable, os.path.abspath(__file__), uri, str(epochs),
                               str(workers)], stderr=subprocess.PIPE, text=True)
        sys.stderr.write(proc.stderr)
        if proc.returncode != 0:
            err = proc.stderr.strip().splitlines()
            print(json.dumps({"area": "compare", "case": "cells_tiledbsoma_ml",
                              "num_workers": workers, "failed": True,
                              "returncode": proc.returncode, "error": err[-1] if err else ""}))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
