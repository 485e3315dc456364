"""Writes the HDF5 / netCDF fixtures under tests/data/arrays/ and the values xarray / h5py
read from them (expected_*.npz), for the array readers' tests.

Run from tests/data/:  python scripts/make_arrays.py   (needs numpy, h5py, netCDF4, xarray)

Every value is drawn from a fixed seed, so re-running gives the same arrays (the HDF5 files'
bytes may differ with the library versions; the expected values do not).
"""

import os

import h5py
import netCDF4
import numpy as np
import xarray as xr

OUT = "arrays"
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(16)


def holodec(path, n=12, xs=6, ys=5, chunk=4):
    """A holodec-shaped netCDF4 file: images [hologram_number, xsize, ysize] u8, particles
    x, y, z, d (f4) on a particle dimension with hid (f8, 1-based hologram id), a packed
    per-hologram variable with scale/offset/fill and a per-hologram integer label."""
    counts = rng.integers(0, 6, size=n)
    counts[3] = 0  # a hologram without particles
    hid = np.repeat(np.arange(1, n + 1), counts).astype("f8")
    order = rng.permutation(len(hid))  # particles not grouped by hologram in the file
    hid = hid[order]
    p = len(hid)
    with netCDF4.Dataset(path, "w", format="NETCDF4") as f:
        f.createDimension("hologram_number", n)
        f.createDimension("xsize", xs)
        f.createDimension("ysize", ys)
        f.createDimension("particle", p)
        img = f.createVariable(
            "image", "u1", ("hologram_number", "xsize", "ysize"),
            zlib=True, complevel=4, shuffle=True, chunksizes=(chunk, xs, ys),
        )
        img[:] = rng.integers(0, 256, size=(n, xs, ys), dtype="u1")
        for name, scale in [("x", 3.0), ("y", 2.0), ("z", 100.0), ("d", 40.0)]:
            v = f.createVariable(name, "f4", ("particle",), zlib=True, complevel=1)
            v[:] = (rng.random(p) * scale - (scale / 2 if name in "xy" else 0)).astype("f4")
        h = f.createVariable("hid", "f8", ("particle",))
        h[:] = hid
        t = f.createVariable("temperature", "i2", ("hologram_number",), fill_value=-999)
        t.scale_factor = 0.01
        t.add_offset = 20.0
        t.set_auto_maskandscale(False)
        raw = rng.integers(-500, 500, size=n).astype("i2")
        raw[5] = -999
        t[:] = raw
        lab = f.createVariable("label", "i4", ("hologram_number",))
        lab[:] = rng.integers(0, 3, size=n).astype("i4")
    return counts


def layouts(path):
    """HDF5 layouts and filters written by h5py."""
    with h5py.File(path, "w") as f:
        f.create_dataset("contiguous_f8", data=rng.random((7, 3)))
        f.create_dataset(
            "chunked_edges", data=rng.integers(-1000, 1000, size=(10, 7)).astype("<i4"),
            chunks=(3, 4), compression="gzip", compression_opts=6,
        )
        f.create_dataset(
            "shuffle_fletcher", data=rng.random((9, 5)).astype("<f4"),
            chunks=(2, 5), compression="gzip", shuffle=True, fletcher32=True,
        )
        f.create_dataset("fletcher_only", data=rng.integers(0, 60000, size=(6, 4)).astype("<u2"),
                         chunks=(4, 2), fletcher32=True)
        compact = rng.integers(-300, 300, size=(5, 2)).astype("<i2")
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_layout(h5py.h5d.COMPACT)
        space = h5py.h5s.create_simple(compact.shape)
        dsid = h5py.h5d.create(f.id, b"compact_i2", h5py.h5t.STD_I16LE, space, dcpl=dcpl)
        dsid.write(h5py.h5s.ALL, h5py.h5s.ALL, compact)
        sparse = f.create_dataset("unwritten_chunks", shape=(8, 3), dtype="<f4", chunks=(2, 3),
                                  fillvalue=-7.5, compression="gzip")
        sparse[2:4] = rng.random((2, 3)).astype("<f4")
        f.create_dataset("u4", data=rng.integers(0, 2**32 - 1, size=(4,), dtype="<u4"))
        f.create_dataset("u8_small", data=np.arange(5, dtype="<u8") * 3)
        f.create_dataset("i1", data=rng.integers(-128, 127, size=(6, 2)).astype("i1"))
        g = f.create_group("group")
        g.create_dataset("nested", data=np.arange(12, dtype="<i8").reshape(4, 3))
        # Refused variables.
        f.create_dataset("big_endian", data=np.arange(4, dtype=">i4"))
        f.create_dataset("lzf", data=np.arange(40, dtype="<f4").reshape(8, 5), chunks=(4, 5),
                         compression="lzf")
        f.create_dataset("strings", data=np.array([b"a", b"bc"], dtype="S2"))
        f.create_dataset("scalar", data=np.float32(1.5))


def many_chunks(path):
    """64 images of 8 × 8 in chunks of 4 images (16 chunks), deflate, and an i8 label."""
    with h5py.File(path, "w") as f:
        f.create_dataset("images", data=rng.integers(0, 256, size=(64, 8, 8), dtype="u1"),
                         chunks=(4, 8, 8), compression="gzip")
        f.create_dataset("label", data=rng.integers(0, 10, size=64).astype("<i8"))


def bad_ids(path):
    """A holodec-shaped file whose hid has a NaN (item 2)."""
    with netCDF4.Dataset(path, "w", format="NETCDF4") as f:
        f.createDimension("hologram_number", 3)
        f.createDimension("xsize", 2)
        f.createDimension("particle", 4)
        img = f.createVariable("image", "u1", ("hologram_number", "xsize"))
        img[:] = np.arange(6, dtype="u1").reshape(3, 2)
        h = f.createVariable("hid", "f8", ("particle",), fill_value=False)
        h[:] = [1.0, 2.0, np.nan, 3.0]
        x = f.createVariable("x", "f4", ("particle",))
        x[:] = [0.5, 1.5, 2.5, 3.5]


def classic(path):
    with netCDF4.Dataset(path, "w", format="NETCDF3_CLASSIC") as f:
        f.createDimension("n", 3)
        v = f.createVariable("v", "f4", ("n",))
        v[:] = [1, 2, 3]


counts = holodec(f"{OUT}/holodec_small.nc")
layouts(f"{OUT}/layouts.h5")
classic(f"{OUT}/classic.nc")
many_chunks(f"{OUT}/many_chunks.h5")
bad_ids(f"{OUT}/bad_ids.nc")

# The same holodec data as Zarr: xarray's writer (v2, its default Blosc compressor; and v3,
# its default Zstandard), and zarr-python directly for a sharded v3 image with gzip inside.
import shutil

import zarr

for fmt in (2, 3):
    dst = f"{OUT}/holodec_small_v{fmt}.zarr"
    shutil.rmtree(dst, ignore_errors=True)
    with xr.open_dataset(f"{OUT}/holodec_small.nc", engine="netcdf4", mask_and_scale=False) as ds:
        ds = ds.load()
        for v in ds.variables.values():
            v.encoding = {k: v.encoding[k] for k in ("_FillValue",) if k in v.encoding}
        ds["image"].encoding["chunks"] = (4, 6, 5)
        ds.to_zarr(dst, zarr_format=fmt, consolidated=False, mode="w")
dst = f"{OUT}/sharded_v3.zarr"
shutil.rmtree(dst, ignore_errors=True)
with xr.open_dataset(f"{OUT}/holodec_small.nc", engine="netcdf4") as ds:
    image = ds["image"].values
g = zarr.open_group(dst, mode="w", zarr_format=3)
a = g.create_array("image", shape=image.shape, dtype="u1", shards=(4, 6, 5), chunks=(2, 3, 5),
                   compressors=zarr.codecs.GzipCodec(level=5))
a[:] = image
b = g.create_array("partial", shape=(10, 3), dtype="<i4", chunks=(4, 3), fill_value=-1,
                   compressors=zarr.codecs.ZstdCodec(level=3))
b[0:4] = np.arange(12, dtype="<i4").reshape(4, 3)
b2 = g.create_array("blosc_f8", shape=(7, 2), dtype="<f8", chunks=(3, 2),
                    compressors=zarr.codecs.BloscCodec(cname="lz4", clevel=5, shuffle="shuffle"))
b2[:] = rng.random((7, 2))
with open(f"{OUT}/expected_sharded_v3.npz", "wb") as f:
    np.savez(f, image=image, partial=b[:], blosc_f8=b2[:])

# What xarray (mask_and_scale, the netCDF4 engine) reads from the netCDF4 file.
ds = xr.open_dataset(f"{OUT}/holodec_small.nc", engine="netcdf4")
np.savez(
    f"{OUT}/expected_holodec_small.npz",
    **{k: ds[k].values for k in ["image", "x", "y", "z", "d", "hid", "temperature", "label"]},
)
# What h5py reads from the HDF5 file (no CF decoding there).
with h5py.File(f"{OUT}/layouts.h5") as f:
    names = ["contiguous_f8", "chunked_edges", "shuffle_fletcher", "fletcher_only",
             "unwritten_chunks", "u4", "u8_small", "i1"]
    names.append("compact_i2")
    vals = {n: f[n][()] for n in names}
    vals["group__nested"] = f["group/nested"][()]
    # The .npy reader under test has no u2 / u4 / u8 / i2: widen those losslessly.
    for n, v in vals.items():
        if v.dtype.kind in "iu" and v.dtype.itemsize in (2, 4, 8) and v.dtype not in (np.int32, np.int64):
            vals[n] = v.astype(np.int64)
    np.savez(f"{OUT}/expected_layouts.npz", **vals)
print("particles per hologram:", counts.tolist())
