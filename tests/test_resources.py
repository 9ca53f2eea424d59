"""What a generation request needs, refused before anything is written."""

import os
from collections import namedtuple

import pytest

from ogmbench import make_config
from ogmbench.errors import ConfigError
from ogmbench.resources import MAX_SAMPLE_BYTES, check_resources, check_writable, estimate


def test_estimate_counts_maps_fields_and_correlations():
    config = make_config(family="field", rho=[0.0, 0.5], samples_per_rho=10, size=(16, 24),
                         classes=3)
    cells = 3 * 16 * 24
    # uint8 clean + float32 noisy + three float64 fields per cell, and a 3x3 float32 matrix.
    assert estimate(config) == {"sample_bytes": cells * 29 + 36,
                                "store_bytes": 20 * (cells * 4 + cells // 10 + 36 + 16)}


def test_a_sample_too_large_for_memory_is_refused_unless_forced(tmp_path):
    # Only the numbers estimate reads: a real config this large would take long to make.
    Big = namedtuple("Big", "frames classes size n_samples")
    big = Big(frames=1, classes=1000, size=(4096, 4096), n_samples=1)
    assert estimate(big)["sample_bytes"] > MAX_SAMPLE_BYTES
    with pytest.raises(ConfigError, match="of memory .*--force"):
        check_resources(big, tmp_path / "s.zarr")
    check_resources(big, tmp_path / "s.zarr", force=True)
    assert list(tmp_path.iterdir()) == []  # nothing written either way


def test_a_store_larger_than_the_free_disk_is_refused(tmp_path):
    config = make_config(family="field", rho=[0.0], samples_per_rho=10 ** 9, size=64)
    with pytest.raises(ConfigError, match="of disk and .* free"):
        check_resources(config, tmp_path / "deeper" / "s.zarr")


def test_check_writable_makes_the_parent_or_says_why_not(tmp_path):
    check_writable(tmp_path / "new" / "s.zarr")
    assert (tmp_path / "new").is_dir()
    (tmp_path / "file").write_text("keep\n")
    with pytest.raises(ConfigError, match="cannot write .*cannot create"):
        check_writable(tmp_path / "file" / "sub" / "s.zarr")
    assert (tmp_path / "file").read_text() == "keep\n"


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root ignores directory permissions")
def test_check_writable_refuses_a_read_only_parent(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(ConfigError, match="permission denied"):
            check_writable(locked / "s.zarr")
    finally:
        locked.chmod(0o700)
