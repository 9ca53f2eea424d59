"""The seed tree: named streams, training seeds, keyed bootstrap generators, rho identity."""

import zlib

import numpy as np
import pytest

from ogmbench import seeding


def test_sample_streams_follow_the_spawn_key_of_the_design():
    direct = np.random.Generator(np.random.PCG64(np.random.SeedSequence(
        5, spawn_key=(2, seeding.rho_key(0.3), 7, seeding.NOISE))))
    assert np.array_equal(seeding.sample_rng(5, 2, 0.3, 7, seeding.NOISE).random(4),
                          direct.random(4))


def test_rho_key_is_a_non_negative_grid_of_1e_6():
    assert seeding.rho_key(-1.0) == 0
    assert seeding.rho_key(0.0) == 1_000_000
    assert seeding.rho_key(0.3) == seeding.rho_key(0.3000004)
    assert seeding.rho_key(0.3) != seeding.rho_key(0.300001)


def test_rho_id_recovers_configured_values_from_float32():
    stored = np.float32([0.3, -0.6, 0.9])
    assert seeding.rho_id(stored).tolist() == [0.3, -0.6, 0.9]
    assert seeding.rho_id(np.float32(0.3)) == 0.3
    assert isinstance(seeding.rho_id(0.1 + 0.2), float) and seeding.rho_id(0.1 + 0.2) == 0.3


def test_train_seeds_start_with_the_seed_and_extend_stably():
    assert seeding.train_seeds(4, 1) == [4]
    three = seeding.train_seeds(4, 3)
    assert three[0] == 4 and seeding.train_seeds(4, 5)[:3] == three
    expected = np.random.SeedSequence(4, spawn_key=(seeding.EVAL_STREAMS["train_seeds"],))
    assert three[1:] == [int(s) for s in expected.generate_state(2)]


def test_eval_streams_are_independent_branches():
    shuffle = seeding.eval_rng(4, "shuffle").integers(0, 2**32, 4)
    again = seeding.eval_rng(4, "shuffle").integers(0, 2**32, 4)
    assert np.array_equal(shuffle, again)
    direct = np.random.default_rng(np.random.SeedSequence(4, spawn_key=(7,))).integers(0, 2**32, 4)
    assert np.array_equal(shuffle, direct)  # the published runs' shuffles stay as they were
    with pytest.raises(KeyError):
        seeding.eval_rng(4, "unknown")


def test_keyed_rng_depends_only_on_the_key():
    a = seeding.keyed_rng("paired", "x", 0.3).random(3)
    b = seeding.keyed_rng("paired", "x", 0.3).random(3)
    c = seeding.keyed_rng("paired", "x", 0.6).random(3)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    seed = zlib.crc32(repr(("paired", "x", 0.3)).encode())
    assert np.array_equal(a, np.random.default_rng(np.random.SeedSequence(seed)).random(3))


def test_a_plain_seed_gives_numpys_default_stream():
    from ogmbench.seeding import seed_rng

    for seed in (0, 7, 2**40):
        assert np.array_equal(seed_rng(seed).random(16), np.random.default_rng(seed).random(16))
