"""``ogmbench generate``: drive a family and a noise model per sample, stream to a store."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, ThreadPoolExecutor, wait
from typing import Any, Callable

import numpy as np

from . import seeding
from ._version import __version__
from .config import GenerateConfig, make_config
from .errors import ConfigError, StoreError
from .execution import Execution, UnitLost, check_threads, check_workers, fit_malloc, using
from .generators import (FAMILIES, apply_noise, apply_noise_sequence, class_correlation,
                         temporal_phi)
from .places import Place, Remote, absolute, check_bucket, location
from .resources import check_resources, check_writable
from .store import (
    Layout, check_arrays, check_proven, check_replaceable, consolidate, content_digest,
    create_store, chunk_grids, metadata_digest, open_group, open_store, remove_leftovers,
    remove_store, replace_store, shard_digest, write_block, writing,
)

__all__ = ["make_sample", "generate"]


def make_sample(config: GenerateConfig, index: int) -> tuple[np.ndarray, ...]:
    """Generate sample ``index`` alone: ``(clean uint8 (C,H,W), noisy float32 (C,H,W))``;
    for a config of sequences ``(clean (T,C,H,W), noisy (T,C,H,W), poses float64 (T,3))``."""
    split, rho, k = config.locate(index)
    family = FAMILIES[config.family]
    seed = config.seed_of(split)
    layout_rng = seeding.sample_rng(seed, split, rho, k, seeding.LAYOUT)
    noise_rng = seeding.sample_rng(seed, split, rho, k, seeding.NOISE)
    if config.frames > 1:
        clean, poses = family.sequence(layout_rng, rho, config.size, **config.family_kwargs)
        noisy = apply_noise_sequence(noise_rng, clean, config.noise_steps,
                                     config.sequence["noise_memory"])
        return clean, noisy, poses
    clean = family.func(layout_rng, rho, config.size, **config.family_kwargs)
    noisy = apply_noise(noise_rng, clean, config.noise_steps)
    return clean, noisy


def make_shard(config: GenerateConfig, shard: int) -> dict[str, np.ndarray]:
    """All arrays of one shard, in the store's digest order."""
    layout = config.layout
    start, stop = layout.shard_range(shard)
    n = stop - start
    c = config.classes
    shapes = layout.arrays()
    out = {name: np.empty((n, *shape[1:]), dtype) for name, (shape, dtype, _) in shapes.items()
           if name != "phi_matrix"}
    matrices = np.empty((n, c, c), np.float32)
    for j, index in enumerate(range(start, stop)):
        split, rho, _ = config.locate(index)
        sample = make_sample(config, index)
        out["clean"][j], out["noisy"][j] = sample[:2]
        # A sequence's classes are compared on its last frame, the one estimated.
        matrices[j] = class_correlation(sample[0][-1] if config.frames > 1 else sample[0])
        if config.frames > 1:
            out["pose"][j] = sample[2]
            out["phi_time"][j] = temporal_phi(sample[0], sample[2], config.resolution)
        out["rho"][j], out["split"][j] = rho, split
    out["phi"][:] = matrices[:, 0, 1]
    if "phi_matrix" in shapes:
        out["phi_matrix"] = matrices
    # The digest order is the layout's.
    return {name: out[name] for name in shapes}


def _write_shard(group, layout: Layout, shard: int, arrays: dict[str, np.ndarray]) -> str:
    start, stop = layout.shard_range(shard)
    for name, value in arrays.items():
        write_block(group, name, start, stop, value)
    return shard_digest(arrays)


# Worker processes: each opens the store once and writes whole shards, so compression
# runs in parallel and nothing large crosses a process boundary.
_WORKER: dict[str, Any] = {}


def _worker_init(path: str, config: GenerateConfig) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    _exit_with_parent(os.getppid())
    _WORKER["group"] = open_group(location(path), mode="r+")
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


def shard_unit(path: str, config: GenerateConfig, shard: int) -> tuple[int, str]:
    """One Dask unit: generate and write one whole shard of the store at ``path``.

    A shard is zarr's unit of write, so distinct shards from distinct workers never
    share a file; the same shard written twice (a retried unit) is the same bytes.
    Returns ``(shard, digest)``; the client alone writes the store's attributes.
    """
    fit_malloc()
    group = open_group(location(path), mode="r+")
    return shard, _write_shard(group, config.layout, shard, make_shard(config, shard))


def _provenance(config: GenerateConfig) -> dict[str, Any]:
    import scipy

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
        **({"frames": config.frames, "sequence": dict(config.sequence),
            "resolution": config.resolution} if config.frames > 1 else {}),
        "shard_samples": config.layout.shard,
        "n_shards": config.layout.n_shards,
        # The store adds zarr's version: it alone imports zarr.
        "versions": {"ogmbench": __version__, "numpy": np.__version__,
                     "scipy": scipy.__version__},
    }


def generate(
    out: str | os.PathLike,
    config: GenerateConfig | None = None,
    *,
    workers: int = 1,
    threads: int | None = None,
    dask: str | Execution | None = None,
    overwrite: bool = False,
    resume: bool = False,
    force: bool = False,
    progress: Callable[[int], None] | None = None,
    **settings: Any,
):
    """Generate a dataset store at ``out`` and return it opened (:class:`~ogmbench.Store`).

    Parameters
    ----------
    out : path or URL
        Directory of the zarr store to write, or an fsspec URL on object storage
        (``s3://bucket/x.zarr``; credentials and endpoint from the environment).
    config : GenerateConfig, optional
        The settings, made by :func:`~ogmbench.config.make_config`; or give them as
        ``**settings`` instead.
    workers : int
        Processes generating shards; the bytes written do not depend on it.  With
        more than one, the calling script needs the usual ``if __name__ ==
        "__main__":`` guard (worker processes are spawned).
    threads : int, optional
        Cores this may use (default: all this process may run on); ``workers`` may
        not exceed it.
    dask : str or Execution, optional
        Generate on a Dask cluster instead, one shard per unit (``local``,
        ``local:N``, a scheduler address, or an open
        :class:`~ogmbench.execution.Execution`); the bytes are the same.  Its workers
        must see ``out`` at the same path (or URL).
    overwrite : bool
        Replace an existing ogmbench store at ``out`` (never anything else).  Locally
        the new store is built beside the old one and swapped in; object storage has
        no rename, so there the old store is deleted first and an interrupted
        overwrite leaves an incomplete store (never read; ``resume`` finishes it).
    force : bool
        Go on although the memory or disk estimate says the request cannot fit.
    resume : bool
        Finish an interrupted store at ``out``.  Settings not given are taken from the
        store; settings given must match it.
    progress : callable, optional
        Called with the number of samples just written (e.g. a progress bar's update).
    **settings
        Without ``config``, passed to :func:`make_config`: ``family``, ``noise``, ``rho``,
        ``samples_per_rho``, ``size``, ``classes``, ``seed``, ``split``, ``params``,
        ``frames``.

    Examples
    --------
    >>> import ogmbench, tempfile, os
    >>> out = os.path.join(tempfile.mkdtemp(), "demo.zarr")
    >>> store = ogmbench.generate(out, family="field", noise="flip:fp=0.1,fn=0.1",
    ...                           rho=[0.0, 0.9], samples_per_rho=5, size=32)
    >>> store.noisy.shape
    (10, 2, 32, 32)
    """
    if not str(out).strip():
        raise ConfigError("OUT is empty; give the path of the store to write")
    out = location(out)
    check_workers(workers)  # before threads: a bad --workers is named first
    check_workers(workers, dask.threads if isinstance(dask, Execution) else check_threads(threads))
    if overwrite and resume:
        raise ConfigError("--overwrite and --resume exclude each other")
    if config is not None and settings:
        raise ConfigError(f"give a config or settings, not both (got {', '.join(settings)})")
    if resume:
        given = settings if config is None else _settings_of(config)
    else:
        config = make_config(**settings) if config is None else config
        check_resources(config, out, force)
        check_writable(out)
    check_bucket(out)
    # One writer per store: a second generate into OUT is refused with one line.
    with writing(out), using(dask, threads) as execution:
        if execution.dask:
            workers = execution
        return _generate(out, config, given if resume else None, workers, overwrite, progress)


def _generate(out: Place, config, resume_settings, workers, overwrite: bool, progress):
    if resume_settings is not None:
        config, group, done = _prepare_resume(out, resume_settings)
    else:
        target = out
        if out.exists() or out.is_symlink():
            if not overwrite:
                raise ConfigError(f"{out} already exists; overwrite (--overwrite) replaces an "
                                  "ogmbench store, resume (--resume) finishes an interrupted one")
            check_replaceable(out)
            if isinstance(out, Remote):  # no rename on object storage (docstring)
                remove_store(out)
                return _create_and_fill(out, out, config, workers, progress)
            # Transactional: the new store is built beside the old one, which is replaced
            # only once the new one is complete.
            aside = out.parent / f".{out.name}.ogmbench-old"
            if aside.exists() or aside.is_symlink():
                check_replaceable(aside)  # refused now, before the new store is built
            target = out.parent / f".{out.name}.ogmbench-new"
            if target.exists() or target.is_symlink():
                remove_store(target)  # left by an interrupted overwrite (or refused)
        return _create_and_fill(target, out, config, workers, progress)
    _fill(out, group, config, done, workers, progress)
    return open_store(out)


def _create_and_fill(target: Place, out: Place, config, workers, progress):
    """Write a new store at ``target`` and open it at ``out``, where it is moved to."""
    try:
        group = create_store(target, config.layout, _provenance(config))
    except OSError as exc:
        raise ConfigError(f"cannot write {out}: {exc.strerror or exc}") from None
    _fill(target, group, config, {}, workers, progress)
    if target != out:
        replace_store(target, out)
    return open_store(out)


def _fill(out: Place, group, config, done, workers, progress) -> None:
    """Write every shard not in ``done``, then the digest and, last, ``complete``."""
    layout = config.layout
    todo = [s for s in range(layout.n_shards) if str(s) not in done]
    if progress is not None:
        progress(sum(stop - start for start, stop in map(layout.shard_range, map(int, done))))

    flusher = _DigestFlusher(group, done)
    try:
        for shard in _run_shards(out, group, config, todo, workers):
            flusher.add(*shard)
            if progress is not None:
                start, stop = layout.shard_range(shard[0])
                progress(stop - start)
    finally:
        flusher.flush()
    digests = [done[str(s)] for s in range(layout.n_shards)]
    group.attrs.update({"digest": content_digest(digests), "completed_at": _now()})
    group.attrs.update({"meta_digest": metadata_digest(out, group.attrs.asdict(),
                                                       chunk_grids(config.layout))})
    group.attrs.update({"complete": True})  # last: marks everything above as final
    consolidate(out)


def _run_shards(out, group, config, todo, workers):
    """Yield (shard, digest) as shards are written, in any order: on a Dask cluster
    (``workers`` an Execution), in this process, or in a pool of worker processes."""
    layout = config.layout
    if isinstance(workers, Execution):
        key = hashlib.sha256(json.dumps([absolute(out), config.to_json()],
                                        sort_keys=True).encode()).hexdigest()[:16]
        for _, done in workers.run(shard_unit, [(absolute(out), config, s) for s in todo],
                                   names=[f"shard {s} of {out}" for s in todo],
                                   keys=[f"ogmbench-shard-{key}-{s}" for s in todo]):
            if isinstance(done, UnitLost):
                raise done
            yield done
        return
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


def _prepare_resume(out: Place, settings: dict[str, Any]):
    check_proven(out, "resume")  # it would write into keys a user may have made
    group = open_group(out, mode="r+")
    attrs = group.attrs.asdict()
    stored = attrs.get("config")
    if stored is None:
        raise StoreError(f"{out} is corrupt: no generation config recorded")
    recorded = dict(stored)
    base = {k: recorded[k] for k in ("family", "noise", "rho", "samples_per_rho", "size",
                                     "classes", "seed", "split")}
    base["params"] = {**recorded["family_params"], **(recorded.get("sequence") or {})}
    base["frames"] = recorded.get("frames", 1)
    base["test_seed"] = recorded.get("test_seed")
    if recorded.get("names"):  # a family with named classes records them
        base["classes"] = recorded["names"]
    if settings.get("classes") is not None:
        # Before the rest: the recorded noise has per-class values for the store's classes,
        # and would be blamed for another number of them.
        given = make_config(family=base["family"], classes=settings["classes"])
        if given.class_names != make_config(family=base["family"],
                                            classes=base["classes"]).class_names:
            raise ConfigError(f"--resume: settings differ from those of {out} in: classes "
                              "(leave them out to use the store's)")
    config = make_config(**{**base, **{k: v for k, v in settings.items() if v is not None}})
    if config.to_json() != recorded:
        theirs = config.to_json()
        differ = sorted(k for k in set(recorded) | set(theirs)
                        if recorded.get(k) != theirs.get(k))
        raise ConfigError(f"--resume: settings differ from those of {out} in: "
                          f"{', '.join(differ)} (leave them out to use the store's)")
    if attrs.get("complete") is True:
        raise ConfigError(f"{out} is already complete; nothing to resume")
    try:
        check_arrays(group, config.layout, out)
    except StoreError:
        raise StoreError(f"{out} was interrupted before its arrays were made; nothing in it "
                         "can be kept: write it again with --overwrite") from None
    remove_leftovers(out)  # the temporary file of a shard write that was killed
    return config, group, _intact_shards(group, config.layout, attrs.get("shard_digests"))


def _intact_shards(group, layout: Layout, recorded) -> dict[str, str]:
    """The shards of an interrupted store whose bytes still hash to their recorded digest
    (the rest, damaged or with an edited digest, are written again)."""
    names = list(layout.arrays())
    out = {}
    for key, digest in (recorded if isinstance(recorded, dict) else {}).items():
        if not (isinstance(key, str) and key.isdigit() and int(key) < layout.n_shards):
            continue
        start, stop = layout.shard_range(int(key))
        try:
            now = shard_digest({name: group[name][start:stop] for name in names})
        except Exception:  # a shard file that no longer decodes
            continue
        if now == digest:
            out[key] = digest
    return out


def _settings_of(config: GenerateConfig) -> dict[str, Any]:
    """The :func:`make_config` keywords that make ``config`` again."""
    return dict(family=config.family, noise=config.noise, rho=list(config.rho),
                samples_per_rho=config.samples_per_rho, size=list(config.size),
                classes=config.classes, seed=config.seed, split=list(config.split),
                params={**config.family_params, **(config.sequence or {})},
                frames=config.frames, test_seed=config.test_seed)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
