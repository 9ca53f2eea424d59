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


def test_hyper_is_the_one_parameter_declaration():
    # Estimators, families and noise models declare a parameter with one class.
    from ogmbench.api import Hyper
    from ogmbench.generators import FAMILIES, Param, ParamError

    assert Hyper is Param
    assert all(type(p) is Param for p in FAMILIES["field"].params)
    assert issubclass(ParamError, ValueError)


@pytest.mark.parametrize("hyper, value, message", [
    # The messages estimators have always given (typed values, whole bounds written out).
    (dict(kind=int, lo=1, hi=10_000_000), 0, "steps must be in [1, 10000000], got 0"),
    (dict(kind=int, lo=1), True, "steps must be an integer, got True"),
    (dict(kind=float, lo=0, hi=1, lo_open=True), 0, "steps must be in (0, 1], got 0"),
    (dict(kind=float), float("nan"), "steps must be finite, got nan"),
    (dict(kind=float), "3", "steps must be a number, got '3'"),
    (dict(kind=bool), 1, "steps must be true or false, got 1"),
    (dict(kind=str, choices=("a", "b")), "c", "steps must be one of a, b, got 'c'"),
    (dict(kind=int, lo=8, none_ok=False), None, "steps must be an integer, got None"),
])
def test_hyper_check_messages(hyper, value, message):
    from ogmbench.api import Hyper
    from ogmbench.generators import ParamError

    with pytest.raises(ParamError) as caught:
        Hyper(**hyper).check("steps", value)
    assert str(caught.value) == message


def test_hyper_none_ok_admits_none_only():
    from ogmbench.api import Hyper

    Hyper(int, lo=8, none_ok=True).check("width", None)
    with pytest.raises(ValueError, match=r"width must be in \[8, inf\), got 4"):
        Hyper(int, lo=8, none_ok=True).check("width", 4)


@pytest.mark.parametrize("declared, value, message", [
    # The messages families and noise models have always given (text parsed, %g numbers).
    (dict(name="tau", lo=0.0, lo_open=True, hi=1e9), "0", "m: tau must be in (0, 1e+09], got 0"),
    (dict(name="lanes", kind=int, lo=1, hi=12), "2.5", "m: lanes must be an integer, got '2.5'"),
    (dict(name="p", lo=0.0, hi=1.0), "x", "m: p must be a number, got 'x'"),
    (dict(name="p", lo=0.0, hi=1.0), "inf", "m: p must be finite, got 'inf'"),
])
def test_param_parse_messages(declared, value, message):
    from ogmbench.generators import Param, ParamError

    with pytest.raises(ParamError) as caught:
        Param(**declared).parse(value, "m")
    assert str(caught.value) == message


def test_param_parse_converts_to_the_declared_kind():
    from ogmbench.generators import Param

    assert Param(name="n", kind=int, lo=1).parse("4", "m") == 4
    assert type(Param(name="n", kind=int, lo=1).parse(4.0, "m")) is int
    assert Param(name="x").parse("0.25", "m") == 0.25
