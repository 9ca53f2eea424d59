"""The store package's face and its small parts: the names the rooms import, the layout's
chunking arithmetic, the digests against hashlib, split numbers, and a Store that travels
to another process (Dask units, data-loader workers) by pickle."""

import ast
import hashlib
import pickle
from pathlib import Path

import numpy as np
import pytest

import ogmbench
import ogmbench.store as store_face
from ogmbench.store import Layout, content_digest, shard_digest, split_number
from store_helpers import SMALL

ROOT = Path(__file__).resolve().parents[1]


def _imported_from_the_store() -> dict[str, set[str]]:
    """name -> files that import it from ogmbench.store, outside the package itself."""
    found: dict[str, set[str]] = {}
    for folder in ("ogmbench", "generators", "baselines", "tests", "benchmarks", "examples"):
        for path in (ROOT / folder).rglob("*.py"):
            if "store" in path.relative_to(ROOT).parts[1:-1]:
                continue  # the package's own modules
            tree = ast.parse(path.read_text(), str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and (
                        node.module == "ogmbench.store" or (node.level and node.module == "store")):
                    for alias in node.names:
                        found.setdefault(alias.name, set()).add(str(path.relative_to(ROOT)))
    return found


def test_the_face_offers_every_name_the_rooms_import():
    imported = _imported_from_the_store()
    assert {"Store", "open_store", "create_store", "reading"} <= set(imported)  # the reader works
    missing = sorted(f"{name} ({', '.join(sorted(files))})" for name, files in imported.items()
                     if name not in store_face.__all__)
    assert not missing, f"imported from ogmbench.store but not on its face: {missing}"
    assert all(hasattr(store_face, name) for name in store_face.__all__)


def test_the_package_face_and_the_store_face_agree():
    assert ogmbench.Store is store_face.Store and ogmbench.open_store is store_face.open_store
    assert ogmbench.StoreError is store_face.StoreError


@pytest.mark.parametrize("layout, chunk, shard, n_shards", [
    # noisy 2*64*64*4 = 32 KiB a sample: 640 KiB / 32 KiB = 20 a chunk; 8 MiB / 40 KiB
    # (clean + noisy) = 204 a shard, rounded down to whole chunks: 200.
    (Layout(1000, 2, 64, 64), 20, 200, 5),
    # Tiny samples: both capped at 512.
    (Layout(1025, 2, 8, 8), 512, 512, 3),
    # 3 frames of 3 classes at 128x128: 576 KiB noisy a sample, one per chunk; 8 MiB /
    # 720 KiB = 11 a shard.
    (Layout(23, 3, 128, 128, frames=3), 1, 11, 3),
])
def test_layout_chunks_and_shards(layout, chunk, shard, n_shards):
    assert (layout.chunk, layout.shard, layout.n_shards) == (chunk, shard, n_shards)
    assert layout.shard_range(n_shards - 1) == ((n_shards - 1) * shard, layout.n)


def test_layout_arrays_of_a_sequence_store():
    arrays = Layout(4, 3, 8, 6, frames=5).arrays()
    assert list(arrays) == ["clean", "noisy", "rho", "phi", "split", "phi_matrix", "pose",
                            "phi_time"]
    assert arrays["clean"] == ((4, 5, 3, 8, 6), "uint8", ("sample", "time", "class", "y", "x"))
    assert arrays["pose"] == ((4, 5, 3), "float64", ("sample", "time", "axis"))
    assert "phi_matrix" not in Layout(4, 2, 8, 6).arrays()


def test_digests_are_sha256_of_names_and_c_order_bytes():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.array([1, 0], dtype=np.uint8)
    reference = hashlib.sha256(b"noisy" + a.tobytes() + b"split" + b.tobytes()).hexdigest()
    # A transposed view holds the same values in another memory order: its C-order bytes count.
    assert shard_digest({"noisy": a.T.copy().T, "split": b}) == reference
    assert shard_digest({"split": b, "noisy": a}) != reference  # the order is the layout's
    assert content_digest(["ab", "cd"]) == hashlib.sha256(b"abcd").hexdigest()


@pytest.mark.parametrize("given, number", [("train", 0), ("val", 1), ("test", 2), (2, 2),
                                           (np.uint8(1), 1)])
def test_split_numbers(given, number):
    assert split_number(given) == number


@pytest.mark.parametrize("given", ["training", 3, -1])
def test_split_numbers_refuse_others(given):
    with pytest.raises(ValueError, match="split must be"):
        split_number(given)


def test_a_pickled_store_reads_the_same_checked_bytes(tmp_path):
    store = ogmbench.generate(tmp_path / "s.zarr", **SMALL)
    store.check()
    again = pickle.loads(pickle.dumps(store))
    assert type(again) is store_face.Store and len(again) == len(store)
    np.testing.assert_array_equal(again.read("noisy", 0, len(store)),
                                  store.read("noisy", 0, len(store)))
    np.testing.assert_array_equal(again.take("clean", [5, 0], classes=[1]),
                                  store.clean[:][[5, 0]][:, [1]])
