"""The published leaderboard/ folders: every interval re-derives from their per-sample
scores, and their seals hold."""

from pathlib import Path

import pytest

from ogmbench.benchmark import load_benchmark
from ogmbench.results import read_samples, results_from_samples, write_results
from ogmbench.sealing import SEALED, read_record

ROOT = Path(__file__).resolve().parents[1]
BENCHMARK = ROOT / "leaderboard" / "benchmark.toml"
FOLDERS = {"default": ROOT / "leaderboard", "bev-cpu": ROOT / "leaderboard" / "bev-cpu",
           "time-cpu": ROOT / "leaderboard" / "time-cpu"}


def test_every_published_folder_is_listed_here():
    made = {p.parent for p in (ROOT / "leaderboard").rglob("results.csv")}
    assert made == set(FOLDERS.values())


@pytest.mark.parametrize("profile", sorted(FOLDERS))
def test_every_published_number_re_derives_from_the_published_samples(profile, tmp_path):
    """results.csv (every value, interval and paired gain) is computed again from
    samples.parquet alone and comes out byte for byte."""
    bench = load_benchmark(BENCHMARK, profile)
    folder = FOLDERS[profile]
    samples = read_samples(folder / "samples.parquet")
    write_results(results_from_samples(bench, samples), tmp_path / "again.csv", bench)
    assert (tmp_path / "again.csv").read_bytes() == (folder / "results.csv").read_bytes()
    # Small enough to commit (a few MB at most).
    assert (folder / "samples.parquet").stat().st_size < 8 * 2 ** 20


@pytest.mark.parametrize("profile", sorted(FOLDERS))
def test_published_results_are_sealed_and_the_profile_regenerates_their_test_split(profile):
    seal = read_record(FOLDERS[profile] / SEALED)  # its seed and nonce hash to its commitment
    assert seal is not None and seal["sealed"] is True
    assert seal["drawn"] < seal["revealed"]
    bench = load_benchmark(BENCHMARK, profile)
    assert bench.test_seed == seal["test_seed"]
    readme = (FOLDERS[profile] / "README.md").read_text(encoding="utf-8")
    assert seal["commitment"] in readme
    assert f"`test_seed = {seal['test_seed']}` regenerates them" in readme


def test_the_default_profile_regenerates_its_published_store(tmp_path):
    """The revealed test seed in the profile gives the published bytes (the field family's
    are the same on every CPU; the urban ones are not yet, see issue 28)."""
    import pandas as pd

    from ogmbench.generate import generate

    bench = load_benchmark(BENCHMARK, "default")
    published = pd.read_csv(FOLDERS["default"] / "results.csv", skiprows=1)
    for dataset in bench.datasets:
        store = generate(tmp_path / f"{dataset.name}.zarr", dataset.config, workers=2)
        digests = set(published.loc[published["dataset"] == dataset.name, "store_digest"])
        assert digests == {store.attrs["digest"]}
