"""``ogmbench generate``: drive a family and a noise model per sample, stream to a store."""

from __future__ import annotations

import json
import os
import signal
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from . import __version__, seeding
from .generators import FAMILIES, NOISE_MODELS, ConfigError, class_correlation, parse_noise_spec
from .generators.noise import apply_noise
from .store import (
    Layout, StoreError, consolidate, content_digest, create_store, open_group, open_store,
    remove_store, shard_digest,
)

__all__ = ["DEFAULTS", "default_noise", "GenerateConfig", "make_config", "make_sample", "generate", "split_counts"]


@dataclass(frozen=True)
class GenerateConfig:
    """Everything that determines a store's bytes, validated and with defaults resolved."""

    family: str
    family_params: dict[str, Any]
    noise: str
    noise_steps: tuple[tuple[str, dict[str, Any]], ...]
    rho: tuple[float, ...]
    samples_per_rho: int
    size: tuple[int, int]
    classes: int
    seed: int
    split: tuple[float, float, float]

    @cached_property
    def counts(self) -> tuple[int, int, int]:
        """Samples per rho in train, val and test."""
        return split_counts(self.samples_per_rho, self.split)

    @property
    def n_samples(self) -> int:
        return self.samples_per_rho * len(self.rho)

    @property
    def layout(self) -> Layout:
        return Layout(self.n_samples, self.classes, *self.size)

    @property
    def class_names(self) -> list[str]:
        names = FAMILIES[self.family].class_names
        return list(names) if names else [f"X{k + 1}" for k in range(self.classes)]

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["noise_steps"] = [[name, params] for name, params in self.noise_steps]
        return json.loads(json.dumps(out))

    def locate(self, index: int) -> tuple[int, float, int]:
        """(split, rho, k) of sample ``index``: order is split, then rho, then k."""
        start = 0
        for split, count in enumerate(self.counts):
            block = count * len(self.rho)
            if index < start + block:
                r, k = divmod(index - start, count)
                return split, self.rho[r], k
            start += block
        raise IndexError(f"sample index {index} out of range for {self.n_samples} samples")


def split_counts(n: int, fractions: Sequence[float]) -> tuple[int, int, int]:
    """Split ``n`` samples by ``fractions`` (largest remainder; ties go to the earlier split)."""
    raw = np.asarray(fractions, dtype=np.float64) * n
    counts = np.floor(raw + 1e-9).astype(int)
    order = np.argsort(-(raw - counts), kind="stable")
    for i in order[: n - counts.sum()]:
        counts[i] += 1
    return tuple(int(c) for c in counts)


# The default dataset: X1 much noisier than X2 (the realistic case, where a prior can
# help most), a rho sweep from independent to strongly correlated, 64x64 maps (the size
# the default U-Net profile trains on in minutes on 2 CPU cores), 400 samples (< 1 s).
# With K classes the default noise keeps sigma 1.0 on X1 and 0.3 on every prior class.
DEFAULTS: dict[str, Any] = dict(
    family="field", noise=None, rho=(0.0, 0.3, 0.6, 0.9),
    samples_per_rho=100, size=64, seed=0, split=(0.7, 0.1, 0.2),
)
MAX_RHO_VALUES = 1000


def default_noise(classes: int = 2) -> str:
    """The default noise spec: X1 much noisier (sigma 1.0) than the prior classes (0.3)."""
    return "gaussian:sigma=1.0/" + "/".join(["0.3"] * (classes - 1))


def make_config(
    *,
    family: str = DEFAULTS["family"],
    noise: str | None = DEFAULTS["noise"],
    rho: Sequence[float] | float = DEFAULTS["rho"],
    samples_per_rho: int = DEFAULTS["samples_per_rho"],
    size: int | Sequence[int] = DEFAULTS["size"],
    classes: int | None = None,
    seed: int = DEFAULTS["seed"],
    split: Sequence[float] = DEFAULTS["split"],
    params: dict[str, Any] | None = None,
) -> GenerateConfig:
    """Validate generation settings and resolve every default.

    Raises :class:`ConfigError` with one line naming the problem and what is allowed.
    """
    from .generators import check_rho, check_size

    if family not in FAMILIES:
        raise ConfigError(f"unknown family {family!r} (allowed: {', '.join(FAMILIES)})")
    model = FAMILIES[family]
    fixed = len(model.class_names) if model.class_names else None
    if classes is None:
        classes = fixed or 2
    if int(classes) != classes or classes < 2:
        raise ConfigError(f"classes must be an integer >= 2, got {classes}")
    if fixed is not None and classes != fixed:
        raise ConfigError(f"family {family!r} has exactly {fixed} classes "
                          f"({', '.join(model.class_names)}), got --classes {classes}")
    rho_values = [rho] if np.isscalar(rho) else list(rho)
    if not rho_values:
        raise ConfigError("rho: give at least one value")
    if len(rho_values) > MAX_RHO_VALUES:
        raise ConfigError(f"rho: at most {MAX_RHO_VALUES} values, got {len(rho_values)}")
    rho_values = [round(check_rho(r, classes), 6) for r in rho_values]
    if len(set(rho_values)) != len(rho_values):
        raise ConfigError(f"rho values must be distinct, got {rho_values}")
    height, width = check_size(size)
    if int(samples_per_rho) != samples_per_rho or samples_per_rho < 1:
        raise ConfigError(f"samples-per-rho must be an integer >= 1, got {samples_per_rho}")
    if int(seed) != seed or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed}")
    fractions = tuple(float(f) for f in split)
    if (len(fractions) != 3 or not all(0.0 <= f <= 1.0 for f in fractions)
            or abs(sum(fractions) - 1.0) > 1e-6):
        raise ConfigError(f"split must be three non-negative fractions summing to 1 "
                          f"(train,val,test), got {','.join(f'{f:g}' for f in fractions)}")
    family_params = model.resolve(dict(params or {}), classes)
    steps = []
    for name, given in parse_noise_spec(default_noise(classes) if noise is None else noise):
        defaults = model.noise_defaults.get(name)
        steps.append((name, NOISE_MODELS[name].resolve(given, classes, defaults)))
    return GenerateConfig(
        family=family, family_params=family_params, noise=_canonical(steps),
        noise_steps=tuple(steps), rho=tuple(rho_values), samples_per_rho=int(samples_per_rho),
        size=(height, width), classes=int(classes), seed=int(seed), split=fractions,
    )


def _canonical(steps) -> str:
    def fmt(v):
        return "/".join(f"{x:g}" for x in v) if isinstance(v, tuple) else f"{v:g}"

    return "+".join(
        name + ":" + ",".join(f"{k}={fmt(v)}" for k, v in params.items()) for name, params in steps
    )


def make_sample(config: GenerateConfig, index: int) -> tuple[np.ndarray, np.ndarray]:
    """Generate sample ``index`` alone: ``(clean uint8 (C,H,W), noisy float32 (C,H,W))``."""
    split, rho, k = config.locate(index)
    family = FAMILIES[config.family]
    layout_rng = seeding.sample_rng(config.seed, split, rho, k, seeding.LAYOUT)
    kwargs = dict(config.family_params)
    if family.class_names is None:  # families with a variable number of classes
        kwargs["classes"] = config.classes
    clean = family.func(layout_rng, rho, config.size, **kwargs)
    noise_rng = seeding.sample_rng(config.seed, split, rho, k, seeding.NOISE)
    noisy = apply_noise(noise_rng, clean, config.noise_steps)
    return clean, noisy


def make_shard(config: GenerateConfig, shard: int) -> dict[str, np.ndarray]:
    """All arrays of one shard, in the store's digest order."""
    layout = config.layout
    start, stop = layout.shard_range(shard)
    n = stop - start
    c, (h, w) = config.classes, config.size
    out = {
        "clean": np.empty((n, c, h, w), np.uint8),
        "noisy": np.empty((n, c, h, w), np.float32),
        "rho": np.empty(n, np.float32),
        "phi": np.empty(n, np.float32),
        "split": np.empty(n, np.uint8),
    }
    matrices = np.empty((n, c, c), np.float32)
    for j, index in enumerate(range(start, stop)):
        split, rho, _ = config.locate(index)
        out["clean"][j], out["noisy"][j] = make_sample(config, index)
        matrices[j] = class_correlation(out["clean"][j])
        out["rho"][j], out["split"][j] = rho, split
    out["phi"][:] = matrices[:, 0, 1]
    if c > 2:
        out["phi_matrix"] = matrices
    return out


def _write_shard(group, layout: Layout, shard: int, arrays: dict[str, np.ndarray]) -> str:
    start, stop = layout.shard_range(shard)
    for name, value in arrays.items():
        group[name][start:stop] = value
    return shard_digest(arrays)


# Worker processes: each opens the store once and writes whole shards, so compression
# runs in parallel and nothing large crosses a process boundary.
_WORKER: dict[str, Any] = {}


def _worker_init(path: str, config: GenerateConfig) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    _exit_with_parent(os.getppid())
    _WORKER["group"] = open_group(Path(path), mode="r+")
    _WORKER["config"] = config


def _exit_with_parent(parent: int) -> None:
    """A killed parent (kill -9) leaves no orphan workers behind."""
    import threading

    def watch():
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _worker_run(shard: int) -> tuple[int, str]:
    config = _WORKER["config"]
    arrays = make_shard(config, shard)
    return shard, _write_shard(_WORKER["group"], config.layout, shard, arrays)


def _provenance(config: GenerateConfig) -> dict[str, Any]:
    import scipy
    import zarr

    counts = config.counts
    return {
        "generator": "ogmbench generate",
        "config": config.to_json(),
        "family": config.family,
        "family_params": json.loads(json.dumps(config.family_params)),
        "noise": config.noise,
        "seed": config.seed,
        "rho_values": list(config.rho),
        "samples_per_rho": config.samples_per_rho,
        "split_fractions": list(config.split),
        "split_counts_per_rho": dict(zip(("train", "val", "test"), counts)),
        "n_samples": config.n_samples,
        "classes": config.classes,
        "class_names": config.class_names,
        "size": list(config.size),
        "shard_samples": config.layout.shard,
        "n_shards": config.layout.n_shards,
        "versions": {"ogmbench": __version__, "numpy": np.__version__,
                     "scipy": scipy.__version__, "zarr": zarr.__version__},
    }


def generate(
    out: str | os.PathLike,
    *,
    workers: int = 1,
    overwrite: bool = False,
    resume: bool = False,
    progress: Callable[[int], None] | None = None,
    **settings: Any,
):
    """Generate a dataset store at ``out`` and return it opened (:class:`~ogmbench.Store`).

    Parameters
    ----------
    out : path
        Directory of the zarr store to write.
    workers : int
        Processes generating shards; the bytes written do not depend on it.  With
        more than one, the calling script needs the usual ``if __name__ ==
        "__main__":`` guard (worker processes are spawned).
    overwrite : bool
        Replace an existing ogmbench store at ``out`` (never anything else).
    resume : bool
        Finish an interrupted store at ``out``.  Settings not given are taken from the
        store; settings given must match it.
    progress : callable, optional
        Called with the number of samples just written (e.g. a progress bar's update).
    **settings
        Passed to :func:`make_config`: ``family``, ``noise``, ``rho``,
        ``samples_per_rho``, ``size``, ``classes``, ``seed``, ``split``, ``params``.

    Examples
    --------
    >>> import ogmbench, tempfile, os
    >>> out = os.path.join(tempfile.mkdtemp(), "demo.zarr")
    >>> store = ogmbench.generate(out, family="field", noise="flip:fp=0.1,fn=0.1",
    ...                           rho=[0.0, 0.9], samples_per_rho=5, size=32)
    >>> store.noisy.shape
    (10, 2, 32, 32)
    """
    out = Path(out)
    if int(workers) != workers or workers < 1:
        raise ConfigError(f"workers must be an integer >= 1, got {workers}")
    if overwrite and resume:
        raise ConfigError("--overwrite and --resume exclude each other")
    if resume:
        config, group, done = _prepare_resume(out, settings)
    else:
        config = make_config(**settings)
        if out.exists() or out.is_symlink():
            if not overwrite:
                raise ConfigError(f"{out} already exists; overwrite (--overwrite) replaces an "
                                  "ogmbench store, resume (--resume) finishes an interrupted one")
            remove_store(out)
        _check_writable(out)
        try:
            group = create_store(out, config.layout, _provenance(config))
        except OSError as exc:
            raise ConfigError(f"cannot write {out}: {exc.strerror or exc}") from None
        done = {}
    layout = config.layout
    todo = [s for s in range(layout.n_shards) if str(s) not in done]
    if progress is not None:
        progress(sum(stop - start for start, stop in map(layout.shard_range, map(int, done))))

    flusher = _DigestFlusher(group, done)
    try:
        for shard in _run_shards(out, group, config, todo, int(workers)):
            flusher.add(*shard)
            if progress is not None:
                start, stop = layout.shard_range(shard[0])
                progress(stop - start)
    finally:
        flusher.flush()
    digests = [done[str(s)] for s in range(layout.n_shards)]
    group.attrs.update({"digest": content_digest(digests), "completed_at": _now()})
    group.attrs.update({"complete": True})  # last: marks everything above as final
    consolidate(out)
    return open_store(out)


def _run_shards(out, group, config, todo, workers):
    """Yield (shard, digest) as shards are written, in any order."""
    layout = config.layout
    if workers == 1:
        # Generation on this thread overlaps compression and writing on another.
        with ThreadPoolExecutor(max_workers=1) as writer:
            pending = None
            for shard in todo:
                arrays = make_shard(config, shard)
                if pending is not None:
                    yield pending.result()
                pending = writer.submit(
                    lambda s, a: (s, _write_shard(group, layout, s, a)), shard, arrays
                )
            if pending is not None:
                yield pending.result()
        return
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init,
                             initargs=(str(out), config)) as pool:
        queue = iter(todo)
        running = set()
        try:
            while True:
                # Bounded look-ahead keeps memory flat in N.
                while len(running) < 2 * workers:
                    shard = next(queue, None)
                    if shard is None:
                        break
                    running.add(pool.submit(_worker_run, shard))
                if not running:
                    break
                finished, running = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    yield future.result()
        except BaseException:
            for future in running:
                future.cancel()
            raise


class _DigestFlusher:
    """Records finished shards' digests in the store, at most about once a second."""

    def __init__(self, group, done: dict[str, str]):
        self.group, self.done, self.dirty, self.last = group, done, False, time.monotonic()

    def add(self, shard: int, digest: str) -> None:
        self.done[str(shard)] = digest
        self.dirty = True
        if time.monotonic() - self.last > 1.0:
            self.flush()

    def flush(self) -> None:
        if self.dirty:
            self.group.attrs.update({"shard_digests": dict(self.done)})
            self.dirty, self.last = False, time.monotonic()


def _prepare_resume(out: Path, settings: dict[str, Any]):
    group = open_group(out, mode="r+")
    attrs = group.attrs.asdict()
    stored = attrs.get("config")
    if stored is None:
        raise StoreError(f"{out} is corrupt: no generation config recorded")
    recorded = dict(stored)
    base = {k: recorded[k] for k in ("family", "noise", "rho", "samples_per_rho", "size",
                                     "classes", "seed", "split")}
    base["params"] = recorded["family_params"]
    config = make_config(**{**base, **{k: v for k, v in settings.items() if v is not None}})
    if config.to_json() != recorded:
        theirs = config.to_json()
        differ = sorted(k for k in recorded if recorded[k] != theirs.get(k))
        raise ConfigError(f"--resume: settings differ from those of {out} in: "
                          f"{', '.join(differ)} (leave them out to use the store's)")
    if attrs.get("complete"):
        raise ConfigError(f"{out} is already complete; nothing to resume")
    done = dict(attrs.get("shard_digests", {}))
    return config, group, done


def _check_writable(out: Path) -> None:
    parent = out.absolute().parent
    if not parent.exists():
        try:
            parent.mkdir(parents=True)
        except OSError as exc:
            raise ConfigError(f"cannot write {out}: cannot create {parent} "
                              f"({exc.strerror or exc})") from None
    if not parent.is_dir():
        raise ConfigError(f"cannot write {out}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot write {out}: permission denied in {parent}")


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
