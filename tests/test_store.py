"""The store: its contract, random access, streaming, xarray, and damage reported."""


import numpy as np
import pytest

import ogmbench
from ogmbench.store import StoreError
from store_helpers import SMALL  # noqa: E402

@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return ogmbench.generate(tmp_path_factory.mktemp("st") / "s.zarr", **SMALL)


def test_store_contract(store):
    n = 30
    assert store.clean.shape == (n, 2, 16, 24) and store.clean.dtype == np.uint8
    assert store.noisy.shape == (n, 2, 16, 24) and store.noisy.dtype == np.float32
    assert store.rho.dtype == np.float32 and store.phi.dtype == np.float32
    assert store.split.dtype == np.uint8
    assert tuple(store.clean.metadata.dimension_names) == ("sample", "class", "y", "x")
    attrs = store.attrs
    assert attrs["complete"] is True and attrs["ogmbench_format"] == 2
    assert attrs["seed"] == 3 and attrs["family"] == "field"
    assert attrs["family_params"] == {"length_scale": 4.0, "occupancy": 0.5}
    assert attrs["noise"] == "gaussian:sigma=0.4,kappa=0"
    assert attrs["class_names"] == ["X1", "X2"]
    assert set(attrs["versions"]) >= {"ogmbench", "numpy", "scipy"}
    assert len(attrs["digest"]) == 64
    # Stratified per rho: 7/1/2 of each rho's 10 samples; splits are contiguous blocks.
    for r in (-0.5, 0.0, 0.9):
        sel = np.isclose(store.rho, r)
        assert np.bincount(store.split[sel], minlength=3).tolist() == [7, 1, 2]
    assert np.all(np.diff(store.split.astype(int)) >= 0)


def test_xarray_opens_the_store(store):
    xr = pytest.importorskip("xarray")
    ds = xr.open_zarr(store.path, consolidated=False)
    assert ds["noisy"].dims == ("sample", "class", "y", "x")
    assert ds["rho"].dims == ("sample",)
    np.testing.assert_array_equal(ds["clean"].values, store.clean[:])
    assert ds.attrs["digest"] == store.attrs["digest"]
    # Class names are coordinates: select a class by name.
    assert list(ds["class"].values) == store.class_names
    np.testing.assert_array_equal(ds["noisy"].sel({"class": store.class_names[1]}).values,
                                  store.noisy[:, 1])


def test_iter_chunks_streams_each_split_exactly(store):
    for split in ("train", "val", "test"):
        blocks = list(store.iter_chunks(split, fields=("clean",)))
        index = np.concatenate([b["index"] for b in blocks])
        np.testing.assert_array_equal(index, store.indices(split))
        clean = np.concatenate([b["clean"] for b in blocks])
        np.testing.assert_array_equal(clean, store.clean[index[0]:index[-1] + 1])
        assert all(np.all(b["split"] == ["train", "val", "test"].index(split)) for b in blocks)


def test_getitem(store):
    sample = store[-1]
    assert sample["index"] == 29 and sample["split"] == 2
    assert sample["clean"].shape == (2, 16, 24)
    with pytest.raises(IndexError):
        store[30]


def test_damaged_shards_are_reported_not_read(tmp_path, store):
    import shutil


    path = tmp_path / "d.zarr"
    shutil.copytree(store.path, path)
    shard = next(p for p in (path / "noisy").rglob("*") if p.is_file() and p.name != "zarr.json")
    shard.write_bytes(shard.read_bytes()[:100])  # truncated
    damaged = ogmbench.open_store(path)
    with pytest.raises(StoreError, match="is corrupt: cannot read noisy"):
        list(damaged.iter_chunks())
    shard.unlink()  # missing: zarr would hand back fill values (NaN)
    # Missing: zarr would hand back fill values; the store is refused on open instead.
    with pytest.raises(StoreError, match=r"the noisy shard 0 \(samples .*\) is missing"):
        ogmbench.open_store(path)


def test_xarray_opens_quietly(store):
    import warnings

    xr = pytest.importorskip("xarray")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = xr.open_zarr(store.path)
    assert ds["noisy"].shape == store.noisy.shape


def test_store_index_must_be_an_integer(store):
    with pytest.raises(TypeError):
        store[1.5]


def test_xarray_names_the_classes_of_a_many_class_store(tmp_path):
    xr = pytest.importorskip("xarray")
    store = ogmbench.generate(tmp_path / "k3.zarr", classes=3, rho=[0.5], samples_per_rho=4, size=16)
    ds = xr.open_zarr(store.path)
    assert list(ds["class"].values) == list(ds["other_class"].values) == ["X1", "X2", "X3"]
    np.testing.assert_array_equal(
        ds["phi_matrix"].sel({"class": "X1", "other_class": "X3"}).values,
        store.read("phi_matrix", 0, len(store))[:, 0, 2])



def test_a_store_reopened_as_checked_must_be_the_one_checked(tmp_path):
    path = tmp_path / "s.zarr"
    first = ogmbench.generate(path, **SMALL)
    again = ogmbench.open_store(path, checked=first.attrs["digest"])
    np.testing.assert_array_equal(again.read("noisy", 0, 3), first.read("noisy", 0, 3))
    ogmbench.generate(path, **{**SMALL, "seed": SMALL["seed"] + 1}, overwrite=True)
    with pytest.raises(StoreError, match="changed since it was checked"):
        ogmbench.open_store(path, checked=first.attrs["digest"])
