"""Times `biobatch.cells.ExperimentDataset` (the Python package) through the same loop as
cells_tiledbsoma_ml.py, for `cargo xtask compare cells --python`.

Usage: python cells_biobatch_python.py STORE EPOCHS

Settings match cells_tiledbsoma_ml.py: batch 256, shuffle on, IO batch 65536 cells, shuffle
chunk 64 cells, seed 1, dense float32 X, obs columns soma_joinid and obs_id; the loader is
wrapped by `biobatch.cells.experiment_dataloader` (a torch DataLoader with batch_size=None),
each batch's X handed to torch with torch.from_numpy; 2 Rust threads fill the batches.
set_epoch(e) is called before every epoch. Prints one JSON line.
"""
import json
import resource
import statistics
import sys
import time

BATCH_SIZE = 256
IO_BATCH_SIZE = 65536
SHUFFLE_CHUNK_SIZE = 64
SEED = 1
OBS_COLUMNS = ["soma_joinid", "obs_id"]


def main():
    store, epochs = sys.argv[1], int(sys.argv[2])
    t0 = time.perf_counter()
    import numpy as np
    import torch
    import biobatch
    from biobatch.cells import ExperimentDataset, experiment_dataloader
    import_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    ds = ExperimentDataset(store, layer_name="counts", obs_column_names=OBS_COLUMNS,
                           batch_size=BATCH_SIZE, io_batch_size=IO_BATCH_SIZE, shuffle=True,
                           shuffle_chunk_size=SHUFFLE_CHUNK_SIZE, seed=SEED,
                           return_sparse_X=False, num_workers=2)
    loader = experiment_dataloader(ds)
    setup_s = time.perf_counter() - t0
    n_obs = ds.shape[0]

    first_batch_s, first_batch = None, None
    epoch_s, epoch_cells, epoch_ids = [], [], []
    for epoch in range(epochs):
        ds.set_epoch(epoch)
        ids, n = [], 0
        t = time.perf_counter()
        for X, obs in loader:
            x = torch.from_numpy(X)
            if first_batch_s is None:
                first_batch_s = time.perf_counter() - t
                first_batch = {"x": [list(x.shape), str(x.dtype).replace("torch.", "")],
                               "obs_columns": list(obs.columns)}
            n += x.shape[0]
            ids.append(obs["soma_joinid"].to_numpy())
        epoch_s.append(time.perf_counter() - t)
        epoch_cells.append(n)
        epoch_ids.append(np.concatenate(ids))
    every_cell_once = all(len(e) == n_obs and len(np.unique(e)) == n_obs for e in epoch_ids)
    mb = lambda who: resource.getrusage(who).ru_maxrss / 1024.0
    print(json.dumps({
        "area": "compare",
        "case": "cells_biobatch_python",
        "biobatch": biobatch.__version__,
        "torch": torch.__version__,
        "num_workers": 2,
        "epochs": epochs,
        "import_s": import_s,
        "setup_s": setup_s,
        "first_batch_s": first_batch_s,
        "cells_per_epoch": epoch_cells[0],
        "cells_per_s": sum(epoch_cells) / sum(epoch_s),
        "cells_per_s_median_epoch": statistics.median(c / s for c, s in zip(epoch_cells, epoch_s)),
        "epochs_s": epoch_s,
        "peak_rss_mb": mb(resource.RUSAGE_SELF),
        "peak_rss_children_mb": mb(resource.RUSAGE_CHILDREN),
        "first_batch": first_batch,
        "every_cell_once": every_cell_once,
        "same_order_epoch0_epoch1": (len(epoch_ids) > 1
                                     and epoch_ids[0][:1000].tolist() == epoch_ids[1][:1000].tolist()),
    }))


if __name__ == "__main__":
    main()
