"""Writes a holodec-shaped netCDF4 file for `cargo xtask gen-data arrays`.

    python arrays_holodec.py OUT.nc IMAGES XSIZE YSIZE PARTICLES CHUNK LEVEL SEED [ZARR]

With ZARR (a path), the same data is also written as a Zarr v3 store by xarray (the image in
chunks of CHUNK images, Zstandard).

- `image` u1 [hologram_number, xsize, ysize], chunked (CHUNK, xsize, ysize), deflate LEVEL:
  a smooth background, low-amplitude noise and a fringe pattern pasted at each particle
  (about as compressible as real holograms: deflate keeps roughly half the bytes);
- particle variables `x`, `y` (centred on the image), `z`, `d` (f4) and `hid` (f8, 1-based
  hologram id) on a `particle` dimension, PARTICLES per image on average (Poisson).

Prints one JSON line: the file, its size, counts and the seconds taken.
"""

import json
import sys
import time

import netCDF4
import numpy as np

out, images, xs, ys, per_image, chunk, level, seed = sys.argv[1:9]
images, xs, ys, per_image, chunk, level, seed = map(int, (images, xs, ys, per_image, chunk, level, seed))
t0 = time.time()
rng = np.random.default_rng(seed)
counts = rng.poisson(per_image, size=images)
n = int(counts.sum())
hid = np.repeat(np.arange(1, images + 1), counts).astype("f8")
x = ((rng.random(n) - 0.5) * xs).astype("f4")
y = ((rng.random(n) - 0.5) * ys).astype("f4")
z = (14_000 + rng.random(n) * 144_000).astype("f4")
d = (5 + rng.random(n) * 95).astype("f4")

# Fringe patches (concentric rings), pasted at particle positions.
r = np.hypot(*np.meshgrid(np.arange(-32, 32), np.arange(-32, 32), indexing="ij"))
patches = [(40 * np.cos(r * r / k) * np.exp(-r / 24)).astype("i2") for k in (20, 35, 60, 90)]
noise = rng.integers(0, 6, size=xs * ys * 4, dtype="u1")
gx, gy = np.meshgrid(np.linspace(0, 1, xs), np.linspace(0, 1, ys), indexing="ij")
background = (96 + 40 * gx + 20 * gy).astype("i2")

with netCDF4.Dataset(out, "w", format="NETCDF4") as f:
    f.createDimension("hologram_number", images)
    f.createDimension("xsize", xs)
    f.createDimension("ysize", ys)
    f.createDimension("particle", n)
    img = f.createVariable(
        "image", "u1", ("hologram_number", "xsize", "ysize"),
        zlib=level > 0, complevel=max(level, 1), chunksizes=(chunk, xs, ys),
    )
    starts = np.concatenate([[0], np.cumsum(counts)])
    for c0 in range(0, images, chunk):
        c1 = min(c0 + chunk, images)
        block = np.empty((c1 - c0, xs, ys), dtype="i2")
        for i in range(c0, c1):
            o = int(rng.integers(0, xs * ys * 3))
            im = background + noise[o:o + xs * ys].reshape(xs, ys)
            for p in range(starts[i], starts[i + 1]):
                px = int(x[p] + xs / 2) - 32
                py = int(y[p] + ys / 2) - 32
                ax, ay = max(px, 0), max(py, 0)
                bx, by = min(px + 64, xs), min(py + 64, ys)
                if ax < bx and ay < by:
                    patch = patches[p % len(patches)]
                    im[ax:bx, ay:by] += patch[ax - px:bx - px, ay - py:by - py]
            block[i - c0] = im
        img[c0:c1] = np.clip(block, 0, 255).astype("u1")
    for name, values in (("x", x), ("y", y), ("z", z), ("d", d)):
        v = f.createVariable(name, "f4", ("particle",), zlib=True, complevel=1)
        v[:] = values
    h = f.createVariable("hid", "f8", ("particle",), zlib=True, complevel=1)
    h[:] = hid

import os

zarr_out = sys.argv[9] if len(sys.argv) > 9 else None
if zarr_out:
    import shutil

    import xarray as xr

    shutil.rmtree(zarr_out, ignore_errors=True)
    with xr.open_dataset(out, mask_and_scale=False, chunks={"hologram_number": chunk}) as ds:
        for v in ds.variables.values():
            v.encoding = {}
        ds["image"].encoding["chunks"] = (chunk, xs, ys)
        ds.to_zarr(zarr_out, zarr_format=3, consolidated=False, mode="w")

print(json.dumps({
    "file": out, "images": images, "xsize": xs, "ysize": ys, "particles": n,
    "most_particles": int(counts.max()), "chunk": chunk, "deflate_level": level,
    "bytes": os.path.getsize(out), "raw_image_bytes": images * xs * ys,
    "zarr": zarr_out, "seconds": round(time.time() - t0, 1),
}))
