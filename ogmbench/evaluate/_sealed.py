"""A plugin fitted and asked for predictions in its own process, scored in this one.

The plugin's process (:class:`ogmbench.sandbox.Session`, in the jail where there is one)
is handed what ``fit`` may read and nothing else: its train and val blocks, one at a
time as it asks for them, never the store or its path.  It answers two requests,
``fit`` (one training seed: tune, fit, pick the val threshold) and ``predict`` (the noisy
test maps of one block); this process reads the test split, applies the controls,
checks every prediction and scores it against clean maps the plugin never held
(:mod:`ogmbench.scoring`), so nothing the plugin does to its own copy of ogmbench can
change a score.
"""

from __future__ import annotations

import itertools
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .. import declared, sandbox
from ..api import FitData, Split
from ..names import file_name
from ..places import Remote, absolute
from ..scoring import (
    Fitted, Job, TestSet, evaluate_job, evaluate_seed, fit_model, predict_parallel,
)
from ..specs import resolve
from ..tuning import EstimatorFailure, TimedOut, as_failure, deadline

_SERVER = "ogmbench.evaluate._sealed:_serve_model"
# What the run plans by (controls, training seeds, keys): the same in every process.
_DECLARED = ("version", "uses_prior", "uses_past", "stochastic")


def evaluate_sealed(job: Job, test: TestSet, device: str, timeout: float | None,
                    grace: float, seed_index: int | None = None):
    """:func:`~ogmbench.scoring.evaluate_job` (or one seed of it, ``seed_index``) with
    the estimator in its own process.

    Raises
    ------
    EstimatorFailure
        For what the estimator raised, did wrong or took too long.
    sandbox.ChildDied
        When its process ended without an answer.
    """
    data = test.fit_data(job.spec)
    blocks = _Blocks(data)
    progress = test.progress
    on_message = None if progress is None else (
        lambda step, total, msg: progress(f"{job.spec.name} train", step, total, msg))
    with sandbox.Session(_SERVER, _payload(job, test, device, timeout, data),
                         on_message=on_message, on_ask=blocks.answer,
                         limit=None if timeout is None else timeout + grace,
                         jail=_jail(job, test, data)) as child:
        fit = _RemoteFit(child)
        result = (evaluate_job(job, test, device, fit) if seed_index is None
                  else evaluate_seed(job, test, device, seed_index, fit))
        child.finish()
    return result


def _own_checkpoints(job: Job, data: FitData):
    """The plugin's own checkpoint folder, inside the run's: the only folder it may
    write, so it cannot leave weights where a built-in would load them."""
    if data.cache_dir is None:
        return None
    return data.cache_dir / f"plugin-{file_name(job.spec.name, 'estimator name')}"


def _payload(job: Job, test: TestSet, device: str, timeout, data: FitData) -> dict[str, Any]:
    """What the plugin's process is told: its spec, seeds and settings, and of its splits
    only their sizes, rho and motion (no store, no path to one)."""
    cls = job.spec.cls
    cache = _own_checkpoints(job, data)
    return {
        "spec": job.spec.text, "class": f"{cls.__module__}:{cls.__qualname__}",
        "declared": {k: getattr(cls, k) for k in _DECLARED},
        "fixed": job.fixed, "seeds": job.seeds, "device": device, "target": test.target,
        "workers": test.workers, "threads": test.threads, "timeout": timeout,
        "cache_dir": None if cache is None else absolute(cache), "cache_key": data.cache_key,
        "progress": test.progress is not None,
        "splits": {name: {"rho": split.rho, "shape": split.shape, "warps": split.warps}
                   for name, split in (("train", data.train), ("val", data.val))},
    }


def _jail(job: Job, test: TestSet, data: FitData) -> dict[str, Any]:
    """What the jail hides and lets the plugin write: the store masked; its checkpoint
    folder writable; its own module's folder visible (an editable install or a file
    given by path lies outside the import path)."""
    cache = _own_checkpoints(job, data)
    remote = isinstance(cache, Remote)
    files = declared.folders(job.spec.cls.declared["ref"])
    return {"hidden": [absolute(test.store.path)] if not isinstance(test.store.path, Remote) else [],
            "writable": [] if cache is None or remote else [absolute(cache)],
            "network": remote, "files": files}


class _Blocks:
    """This process's answers to the plugin's questions: the next block of its train or
    val split (as :meth:`ogmbench.api.Split.iter_chunks` gives them), nothing else."""

    def __init__(self, data: FitData):
        self._splits = {"train": data.train, "val": data.val}
        self._open: dict[int, Any] = {}
        self._tokens = itertools.count()

    def answer(self, what, arg=None):
        if not isinstance(arg, (str, int)) or isinstance(arg, bool):
            arg = None  # nothing it may ask for is named otherwise
        if what == "open" and arg in self._splits:
            token = next(self._tokens)
            self._open[token] = iter(self._splits[arg].iter_chunks())
            return token
        if what == "next" and arg in self._open:
            block = next(self._open[arg], None)
            if block is None:
                del self._open[arg]
            return block
        # Its failure, not the run's: it asked for what no estimator is given.
        raise EstimatorFailure(f"its process asked for {str(what)[:40]!r} "
                               f"{str(arg)[:40]!r}, which it is not given")


class _RemoteFit:
    """:func:`~ogmbench.scoring.fit_here`'s stand-in: the seed fitted in the plugin's
    process, and a model whose ``predict`` asks it (each chunk whole: it splits the
    chunk between its own workers)."""

    def __init__(self, child: sandbox.Session):
        self._child = child

    def __call__(self, job: Job, test: TestSet, device: str, seed_index: int) -> Fitted:
        start = time.perf_counter()  # timed here: its own figure could say anything
        reply = self._child.request("fit", seed_index)
        fit_s = time.perf_counter() - start
        return Fitted(_RemoteModel(self._child), *_checked_fit(reply, job.seeds[seed_index]),
                      fit_s, 1)


# What a fit reply must hold, and of what type (the run records it, and reports read it).
_INFO = {"seed": int, "params": dict, "tuned": dict, "tuning": list, "describe": dict}


def _checked_fit(reply, seed: int) -> tuple[float, dict[str, Any]]:
    """The val threshold and the facts of a fit reply, refused unless well formed."""
    try:
        threshold, info, _ = reply
        threshold = float(threshold)
        ok = (0.0 <= threshold <= 1.0 and isinstance(info, dict)
              and all(isinstance(info.get(k), t) and not isinstance(info.get(k), bool)
                      for k, t in _INFO.items()) and info["seed"] == seed)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise EstimatorFailure("its process answered fit with something that is not a fit's "
                               "record (threshold in [0, 1], seed, params, tuned, tuning, "
                               "describe)")
    return threshold, info


class _RemoteModel:
    def __init__(self, child: sandbox.Session):
        self._child = child

    def predict(self, noisy, target, warps=None):
        return self._child.request("predict", noisy, target, warps)


# --------------------------------------------------------------------------- its process


def _serve_model(payload: dict[str, Any], channel):
    """The plugin's process: build its splits from the blocks it asks for, then answer
    ``fit`` and ``predict`` until the run is done with it."""
    spec = resolve(payload["spec"], here=True)  # the real class, in this jailed process
    if f"{spec.cls.__module__}:{spec.cls.__qualname__}" != payload["class"]:
        raise EstimatorFailure(f"{payload['spec']} loads {spec.cls.__qualname__} in a new "
                               f"process, not {payload['class']}")
    # The run planned its controls and keys by what the class declared when read: a
    # class that declares otherwise now (a draw at import) is not the one planned for.
    now = {k: getattr(spec.cls, k) for k in _DECLARED}
    if now != payload["declared"]:
        raise EstimatorFailure(f"{spec.cls.__qualname__} declares {now} here, and declared "
                               f"{payload['declared']} when it was read")
    data = FitData(*(_asked_split(channel, name, meta) for name, meta in payload["splits"].items()),
                   cache_dir=payload["cache_dir"], cache_key=payload["cache_key"],
                   progress=channel if payload["progress"] else None)
    model = None
    with ThreadPoolExecutor(max_workers=payload["workers"]) as pool, \
            deadline(payload["timeout"]):  # fit and every predict together
        for request in channel.requests():
            try:
                if request[0] == "fit":
                    model, reply = _fit(spec, data, payload, request[1])
                else:
                    reply = _predict(spec, model, payload["workers"], pool, *request[1:])
            except TimedOut as exc:  # struck between the estimator's own calls
                reply = as_failure(exc, request[0])
            except EstimatorFailure as exc:
                reply = exc
            if isinstance(reply, EstimatorFailure):
                channel.fail(reply)
            else:
                channel.reply(reply)


def _asked_split(channel, name: str, meta: dict[str, Any]) -> Split:
    def chunks():
        token = channel.ask("open", name)
        while (block := channel.ask("next", token)) is not None:
            yield block

    return Split(chunks=chunks, rho=meta["rho"], shape=meta["shape"], warps=meta["warps"])


def _fit(spec, data: FitData, payload: dict[str, Any], seed_index: int):
    model, threshold, info, fit_s = fit_model(
        spec.cls, data, target=payload["target"], seed=payload["seeds"][seed_index],
        device=payload["device"], fixed=payload["fixed"], threads=payload["threads"])
    return model, (float(threshold), info, fit_s)


def _predict(spec, model, workers: int, pool, noisy, target, warps):
    if model is None:
        raise EstimatorFailure(f"{spec.name}: predict before fit")
    # As the run would split the chunk here (a learned estimator predicts it whole).
    return predict_parallel(model, noisy, target, 1 if spec.cls.stochastic else workers, pool,
                            warps)
