"""The holodec-style loader: an xarray Dataset behind a PyTorch Dataset, in a DataLoader.

    python arrays_xarray.py FILE BATCHES WORKERS VARIANT

VARIANT `lazy` is the pattern users start from: every `__getitem__` reads one image lazily
(decompressing its whole chunk) and scans every particle's `hid` for the sample's id, then
sorts the particles by `d` and pads them to a fixed count. `in_memory` loads the particle
variables once (per worker) and keeps the per-sample scan. `xbatcher` runs xbatcher's
BatchGenerator over the images only, in file order (it has no shuffle and no ragged
targets). Shuffled batches of 32; the first batch is not timed.

Prints one JSON line: samples/s, seconds, first batch, peak RSS (self and children).
"""

import json
import resource
import sys
import time

t_import = time.time()
import numpy as np
import torch
import xarray as xr

import_s = time.time() - t_import
path, batches, workers, variant = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
BATCH = 32


class Holodec(torch.utils.data.Dataset):
    def __init__(self, path, in_memory):
        self.path = path
        self.in_memory = in_memory
        self.ds = None
        with xr.open_dataset(path) as ds:
            self.n = ds.sizes["hologram_number"]
            hid = ds["hid"].values
            self.max_particles = int(np.bincount(hid.astype("i8")).max())

    def _open(self):
        # Opened in each worker process (HDF5 handles do not survive fork).
        if self.ds is None:
            self.ds = xr.open_dataset(self.path)
            if self.in_memory:
                self.particles = {k: self.ds[k].values for k in ("hid", "x", "y", "z", "d")}

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        self._open()
        image = self.ds["image"][i].values
        if self.in_memory:
            p = self.particles
        else:
            p = {k: self.ds[k].values for k in ("hid", "x", "y", "z", "d")}
        keep = p["hid"] == i + 1
        items = np.stack([p[k][keep] for k in ("x", "y", "z", "d")], axis=-1).astype("f4")
        items = items[np.argsort(items[:, 3])]
        padded = np.zeros((self.max_particles, 4), dtype="f4")
        padded[: len(items)] = items
        return torch.from_numpy(image), torch.from_numpy(padded), len(items)


def rss_mb(who):
    return resource.getrusage(who).ru_maxrss / 1024


t0 = time.time()
if variant == "xbatcher":
    import xbatcher

    ds = xr.open_dataset(path)
    dims = dict(ds["image"].sizes)
    dims["hologram_number"] = BATCH
    gen = xbatcher.BatchGenerator(ds[["image"]], input_dims=dims)
    per_image = dims["xsize"] * dims["ysize"]
    it = iter(gen)
    setup_s = time.time() - t0
    t1 = time.time()
    next(it)["image"].values
    first = time.time() - t1
    t2 = time.time()
    seen = 0
    for _ in range(batches):
        b = next(it)["image"].values
        seen += b.size // per_image
else:
    dataset = Holodec(path, variant == "in_memory")
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=BATCH, shuffle=True, num_workers=workers,
        generator=torch.Generator().manual_seed(1), persistent_workers=False,
    )
    it = iter(loader)
    setup_s = time.time() - t0
    t1 = time.time()
    next(it)
    first = time.time() - t1
    t2 = time.time()
    seen = 0
    for _ in range(batches):
        image, particles, count = next(it)
        seen += image.shape[0]
secs = time.time() - t2
print(json.dumps({
    "peer": variant, "num_workers": workers if variant != "xbatcher" else 0,
    "samples_per_s": seen / secs, "samples": seen, "seconds": secs,
    "import_s": import_s, "setup_s": setup_s, "first_batch_s": first,
    "peak_rss_mb": rss_mb(resource.RUSAGE_SELF),
    "peak_rss_children_mb": rss_mb(resource.RUSAGE_CHILDREN),
}))
