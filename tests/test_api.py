"""The estimator protocol's shared pieces: Split, the output contract, the device rule."""

import numpy as np
import pytest

import ogmbench
from ogmbench.api import Split, check_output, resolve_device
from ogmbench.errors import ConfigError


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return ogmbench.generate(tmp_path_factory.mktemp("api") / "s.zarr", family="field",
                             rho=[0.0, 0.9], samples_per_rho=10, size=16, seed=2)


@pytest.mark.parametrize("indices", [[7, 8], [0, 1, 2, 11], [15], [3, 5, 9, 10]])
def test_split_of_a_store_yields_exactly_its_indices(store, indices):
    noisy, clean, rho = Split(store=store, indices=indices).load()
    assert np.array_equal(noisy, store.noisy[:][indices])
    assert np.array_equal(clean, store.clean[:][indices])
    assert np.array_equal(rho, store.rho[indices])


def test_split_of_a_whole_split_reads_in_the_stores_blocks(store):
    indices = store.indices("train")
    split_blocks = [len(n) for n, _, _ in Split(store=store, indices=indices).iter_chunks()]
    store_blocks = [len(b["index"]) for b in store.iter_chunks("train")]
    assert split_blocks == store_blocks


def test_split_in_memory_matches_its_arrays():
    noisy = np.random.default_rng(0).random((5, 2, 4, 4), dtype=np.float32)
    clean = (noisy > 0.5).astype(np.uint8)
    loaded = Split(noisy, clean).load()
    assert np.array_equal(loaded[0], noisy) and np.array_equal(loaded[1], clean)


@pytest.mark.parametrize("out, words", [
    ([[0.0]], "returned list"),
    (np.zeros((2, 4, 3), np.float32), "shape"),
    (np.zeros((2, 4, 4), np.float64), "dtype float64"),
    (np.full((2, 4, 4), np.nan, np.float32), "NaN or inf"),
    (np.full((2, 4, 4), 1.5, np.float32), r"outside \[0, 1\]"),
])
def test_check_output_names_the_broken_rule(out, words):
    with pytest.raises(ValueError, match=words):
        check_output(out, np.zeros((2, 3, 4, 4), np.float32))


def test_check_output_accepts_a_valid_estimate():
    check_output(np.full((2, 4, 4), 0.5, np.float32), np.zeros((2, 3, 4, 4), np.float32))


def test_device_rule():
    assert resolve_device("cpu") == "cpu"
    with pytest.raises(ConfigError, match="auto, cpu or cuda"):
        resolve_device("tpu")
