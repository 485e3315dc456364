"""Writes the .npy / .npz fixtures with numpy and the values the tests expect.

Run from tests/data/: python scripts/make_npy.py (numpy 2.x).
"""
import numpy as np

rng = np.random.default_rng(7)
n = 12
images = rng.integers(0, 256, size=(n, 6, 5), dtype=np.uint8)
# Padded per-image targets: up to 4 boxes of (x, y, w, h), -1 where an image has fewer.
counts = rng.integers(0, 5, size=n)
targets = np.full((n, 4, 4), -1.0, dtype=np.float32)
for i, c in enumerate(counts):
    targets[i, :c] = rng.random((c, 4), dtype=np.float32)
labels = rng.integers(0, 3, size=n).astype(np.int64)

np.save("images.npy", images)
np.savez("arrays.npz", images=images, targets=targets, labels=labels)
np.savez_compressed("arrays_compressed.npz", images=images, targets=targets, labels=labels)
np.save("fortran.npy", np.asfortranarray(rng.random((3, 4))))
np.save("bigendian.npy", np.arange(6, dtype=">f4"))

with open("expected_npy.tsv", "w") as f:
    f.write("array\tdtype\tshape\trow_sums\n")
    for name, a in [("images", images), ("targets", targets), ("labels", labels)]:
        sums = a.reshape(n, -1).astype(np.float64).sum(axis=1)
        f.write(f"{name}\t{a.dtype.str}\t{','.join(map(str, a.shape))}\t{','.join(repr(float(s)) for s in sums)}\n")
