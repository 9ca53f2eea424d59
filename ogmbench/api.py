"""The estimator protocol: what every ogmbench estimator implements.

An estimator maps a batch of noisy class stacks to an estimate of the clean target
class.  Subclass :class:`Estimator`::

    class MyFilter(Estimator):
        uses_prior = False                        # does it read the prior classes?
        param_grid = {"size": [3, 5, 7]}          # tuned on val, never on test

        def __init__(self, size=3):               # hyper-parameters: keywords with defaults
            self.size = size

        def predict(self, noisy, target):
            # noisy: (B, C, H, W) float32, read-only; target: int
            out = scipy.ndimage.uniform_filter(noisy[:, target], size=(1, self.size, self.size))
            return np.clip(out, 0, 1).astype(np.float32)   # (B, H, W) float32 in [0, 1]

**Sequences.**  In a store of sequences (``generate --frames T``) the target is the last
frame of the target class.  An estimator reads two kinds of prior, and declares each:
``uses_prior`` (the other classes, at the last frame) and ``uses_past`` (the target
class's past frames, the temporal prior).  One that does not use the past is handed the
last frame only, (B, C, H, W), as for a store of single maps.  One with
``uses_past = True`` is handed whole sequences and how to align them::

    def predict(self, noisy, target, warps):
        # noisy: (B, T, C, H, W); warps: (B, T, 2, 3) float64, [matrix | offset] of each
        # frame: the last frame's cell at index o lies at matrix @ o + offset in frame t
        # (what scipy.ndimage.affine_transform takes to pull frame t into the last grid).
        ...

and its :class:`Split` gives ``(noisy (n, T, C, H, W), clean (n, C, H, W) of the last
frame, rho)`` blocks with :attr:`Split.warps` alongside.

Learned estimators also override :meth:`Estimator.fit`; a noise estimator predicts the
noise and returns ``noisy[:, target] - predicted_noise`` clipped to [0, 1].  They report
their learning curve as ``describe()["curve"]`` (``[[step, val_mse, lr], ...]``), which
the run judges by :func:`converged` (the rule of :mod:`ogmbench.curves`, re-exported here
so an estimator can train by it).

The rules (checked by :func:`ogmbench.testing.check_estimator`): output (B, H, W)
float32, finite, in [0, 1]; the input is never modified; a sample's estimate does not
depend on the rest of its batch; the same seed gives the same numbers; a stack without
prior classes (C = 1) works.  An estimator may read the past only when it says so: the
prior controls and twins replace each source it declares, and no other.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, ClassVar, Iterator, Sequence

import numpy as np

from .curves import converged, judge
from .errors import ConfigError
from .params import Param
from .places import location, read_regular, write_atomic
from .seeding import torch_seed

__all__ = ["Estimator", "Split", "FitData", "Hyper", "DEVICES", "PRIOR_CONTROLS",
           "PAST_CONTROLS", "CONTROLS", "PRIOR_SOURCES", "last_frame",
           "resolve_device", "check_output", "converged", "judge", "location", "read_regular",
           "write_atomic", "torch_seed"]

DEVICES = ("auto", "cpu", "cuda")

# What a prior-using estimator can be handed instead of the test sample's own prior: the
# prior of another test sample, zeros, or the clean prior (an oracle).
PRIOR_CONTROLS = ("shuffled", "zeros", "oracle")
# Where an estimator's X2 comes from, at training and at test alike: the sample's own noisy
# X2, or a twin's (``concat:prior=shuffled`` is concat's blind twin, ``prior=oracle`` its
# ceiling).
PRIOR_SOURCES = ("noisy",) + PRIOR_CONTROLS
# The same controls for the temporal prior (the target's past frames in a store of
# sequences): another test sample's past (with its own motion), zeros, or the clean past.
PAST_CONTROLS = tuple(f"past-{control}" for control in PRIOR_CONTROLS)
CONTROLS = PRIOR_CONTROLS + PAST_CONTROLS


def last_frame(maps: np.ndarray) -> np.ndarray:
    """(n, C, H, W) of the last frame of (n, T, C, H, W) sequences; single maps as given."""
    return maps[:, -1] if maps.ndim == 5 else maps


def resolve_device(device: str) -> str:
    """``"auto"`` -> ``"cuda"`` when torch sees a GPU, else ``"cpu"``; the one device rule.

    torch is asked only when it is already imported (an estimator that trains has
    imported it) or ``"cuda"`` is requested, so a run of classical filters never
    imports it.

    Raises
    ------
    ConfigError
        For a device not in :data:`DEVICES`, or ``"cuda"`` without a GPU.
    """
    import sys

    if device not in DEVICES:
        raise ConfigError(f"device must be auto, cpu or cuda, got {device!r}")
    if device == "cpu":
        return "cpu"
    available = False
    if "torch" in sys.modules or device == "cuda":
        try:
            import torch

            available = torch.cuda.is_available()
        except ImportError:
            available = False
    if device == "cuda" and not available:
        raise ConfigError("--device cuda: no CUDA device is available")
    return "cuda" if available else "cpu"


def check_output(out: Any, noisy: np.ndarray) -> None:
    """Raise ``ValueError`` naming how ``out`` breaks the contract of :meth:`Estimator.predict`.

    ``out`` must be a float32 array of shape (B, H, W) for ``noisy`` of (B, C, H, W) (or
    sequences (B, T, C, H, W)), finite and in [0, 1].
    """
    b, h, w = noisy.shape[0], *noisy.shape[-2:]
    if not isinstance(out, np.ndarray):
        raise ValueError(f"predict returned {type(out).__name__}, expected a numpy array")
    if out.shape != (b, h, w):
        raise ValueError(f"predict returned shape {out.shape}, expected {(b, h, w)}")
    if out.dtype != np.float32:
        raise ValueError(f"predict returned dtype {out.dtype}, expected float32")
    if not np.isfinite(out).all():
        raise ValueError("predict returned NaN or inf")
    if out.size and (out.min() < 0.0 or out.max() > 1.0):
        raise ValueError(f"predict returned values outside [0, 1] "
                         f"(min {out.min():.3g}, max {out.max():.3g})")


class Split:
    """Samples of one split that an estimator may learn from.

    Backed by in-memory arrays or by a store (loaded lazily, chunk by chunk).

    Parameters
    ----------
    noisy : ndarray (N, C, H, W) float32, optional
    clean : ndarray (N, C, H, W) uint8, optional
    rho : ndarray (N,), optional
    store, indices : optional
        Alternatively, a :class:`~ogmbench.Store` and the sample indices of the split.
        Sequences (N, T, C, H, W) for an estimator that reads the past; ``clean`` may
        then be sequences too, or the last frame only (N, C, H, W).
    warps : ndarray (N, T, 2, 3), optional
        With in-memory sequences: how each frame maps into the last one (see the module
        notes).
    transform : callable, optional
        ``transform(noisy, clean, index) -> noisy`` applied to every block read (with the
        blocks' sample indices, or positions for in-memory arrays): how ``ogmbench eval``
        gives a prior-source twin its X2 (:data:`PRIOR_SOURCES`) at training.  It sees the
        maps as the store holds them (sequences in a store of sequences).
    past : bool
        With a store of sequences: give whole sequences (an estimator that reads the
        past) rather than their last frames.
    chunks, shape : optional
        Alternatively, a function returning an iterator of ready ``(noisy, clean, rho)``
        blocks, with ``rho`` (all samples', in order), ``shape`` and, for sequences,
        ``warps``: how a sandboxed plugin's process is handed its splits.

    Attributes
    ----------
    shape : tuple
        One sample's noisy maps as given: (C, H, W), or (T, C, H, W) for sequences.
    rho : ndarray (N,)
    warps : ndarray (N, T, 2, 3) or None
        For sequences, in the order of :meth:`iter_chunks` and :meth:`load`.
    """

    def __init__(self, noisy=None, clean=None, rho=None, *, store=None, indices=None,
                 transform=None, warps=None, past=False, chunks=None, shape=None):
        self._transform = transform
        self.warps = None
        self._chunks = chunks
        if chunks is not None:
            # Blocks made elsewhere (a sandboxed plugin's process is handed its train and
            # val blocks, never a store): ready as iter_chunks yields them.
            self._noisy = self._clean = None
            self._rho = np.asarray(rho)
            self.shape = tuple(shape)
            self._past = len(self.shape) == 4
            self.warps = None if warps is None else np.asarray(warps, np.float64)
            count = len(self._rho)
        elif store is None:
            self._noisy, self._clean = np.asarray(noisy, np.float32), np.asarray(clean, np.uint8)
            self._rho = np.zeros(len(self._noisy)) if rho is None else np.asarray(rho)
            self.shape = tuple(self._noisy.shape[1:])
            self._past = self._noisy.ndim == 5
            if self._past:
                if warps is None:
                    raise ValueError("sequences (N, T, C, H, W) need their warps (N, T, 2, 3)")
                self.warps = np.asarray(warps, np.float64)
                if self.warps.shape != (*self._noisy.shape[:2], 2, 3):
                    raise ValueError(f"warps must have shape {(*self._noisy.shape[:2], 2, 3)}, "
                                     f"got {self.warps.shape}")
            count = len(self._noisy)
        else:
            self._noisy = self._clean = None
            self._store, self._indices = store, np.asarray(indices)
            self._rho = store.rho[self._indices]
            self._past = bool(past) and store.frames > 1
            shape = tuple(store.noisy.shape[1:])
            self.shape = shape if self._past or store.frames == 1 else shape[1:]
            if self._past:
                self.warps = store.warps(self._indices)
            count = len(self._indices)
        self._len = count

    def __len__(self) -> int:
        return self._len

    @property
    def rho(self) -> np.ndarray:
        return self._rho

    def iter_chunks(self) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Yield ``(noisy, clean, rho)`` blocks in order, bounded in memory."""
        if self._len == 0:
            return
        if self._chunks is not None:
            yield from self._chunks()
            return
        transform = self._transform or (lambda noisy, clean, index: noisy)
        # Sequences stay whole for an estimator that reads the past; the others see the
        # last frame.  The target is always the last frame: clean is that frame alone.
        frames = (lambda maps: maps) if self._past else last_frame
        if self._noisy is not None:
            step = 256
            for start in range(0, self._len, step):
                sl = slice(start, start + step)
                index = np.arange(start, min(start + step, self._len))
                yield (frames(transform(self._noisy[sl], self._clean[sl], index)),
                       last_frame(self._clean[sl]), self._rho[sl])
            return
        # Each run of consecutive indices is read in the store's blocks, in order.
        indices = self._indices
        for run in np.split(indices, np.flatnonzero(np.diff(indices) != 1) + 1):
            for block in self._store.iter_range(int(run[0]), int(run[-1]) + 1):
                yield (frames(transform(block["noisy"], block["clean"], block["index"])),
                       last_frame(block["clean"]), block["rho"])

    def load(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All samples as arrays ``(noisy, clean, rho)`` (memory: the whole split)."""
        if self._noisy is not None and self._transform is None:
            return self._noisy, last_frame(self._clean), self._rho
        chunks = list(self.iter_chunks())
        if not chunks:
            c, h, w = self.shape[-3:]
            return (np.empty((0, *self.shape), np.float32), np.empty((0, c, h, w), np.uint8),
                    np.empty(0))
        return tuple(np.concatenate(parts) for parts in zip(*chunks))


@dataclass(frozen=True)
class FitData:
    """What :meth:`Estimator.fit` may learn from: the train and val splits.

    ``cache_dir`` and ``cache_key`` (set by ``ogmbench eval``: the run's checkpoint
    folder and the store digest with the target) let an estimator reuse what it trained
    on the same data; ``progress(step, total, message)`` reports training progress.
    ``cache_dir`` may be a local path or an fsspec URL: ``location(cache_dir) / name``
    reads and tests it like a :class:`pathlib.Path`, and :func:`write_atomic` writes a
    whole file there (both re-exported here for estimators).  ``model`` is the store's
    true generative model (:class:`ogmbench.truth.TrueModel`), handed only to a built-in
    reference that declares :attr:`Estimator.knows_model`; None for every other.
    """

    train: Split
    val: Split
    cache_dir: Any = None
    cache_key: str = ""
    progress: Any = None
    model: Any = None


# An estimator's hyper-parameters are declared like a family's or a noise model's
# parameters: ``Hyper(int, lo=1, hi=99)`` is :class:`ogmbench.params.Param` itself.
Hyper = Param


class Estimator:
    """Base class of ogmbench estimators (see the module docstring for the protocol).

    Class attributes
    ----------------
    uses_prior : bool
        Whether the estimate depends on the prior classes.
    uses_past : bool
        Whether the estimate depends on the target class's past frames (a store of
        sequences); such an estimator is handed sequences and their warps (see the
        module notes).
    param_grid : dict
        Hyper-parameter values tried on the val split (by MSE); the best are used on
        test and recorded.  Empty: the estimator selects its own (learned estimators).
    hyper : dict of Hyper
        Type and range of each hyper-parameter, so that ``name:key=value`` is checked
        before any work (a usage error naming the parameter).
    version : str
        Bump when the estimator's output changes for the same inputs.
    stochastic : bool
        Whether the fitted estimator depends on the seed (learned estimators): eval's
        ``--train-seeds N`` then trains it N times.
    knows_model : bool
        A reference that reads the true generative model (the Bayes-optimal estimate):
        handed :attr:`FitData.model` at fit and called ``predict(noisy, target, rho=rho)``
        with each sample's rho.  Only ogmbench's built-in estimators may declare it (a
        submission never knows the model); tables mark such rows as references.
    """

    name: ClassVar[str] = ""
    uses_prior: ClassVar[bool] = False
    uses_past: ClassVar[bool] = False
    stochastic: ClassVar[bool] = False
    knows_model: ClassVar[bool] = False
    param_grid: ClassVar[dict[str, Sequence[Any]]] = {}
    hyper: ClassVar[dict[str, Hyper]] = {}
    version: ClassVar[str] = "1"

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> None:
        """Check hyper-parameters against :attr:`hyper`; ``ValueError`` names the first bad one.

        Parameters without a declaration are not checked here (the constructor may).
        """
        for name, value in params.items():
            if name in cls.hyper:
                cls.hyper[name].check(name, value)

    @classmethod
    def param_names(cls) -> list[str]:
        """Names of the keyword hyper-parameters of ``__init__``."""
        sig = inspect.signature(cls.__init__)
        return [p.name for p in list(sig.parameters.values())[1:]
                if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        sig = inspect.signature(cls.__init__)
        return {name: sig.parameters[name].default for name in cls.param_names()}

    def get_params(self) -> dict[str, Any]:
        """Current hyper-parameters (read back from attributes of the same names)."""
        return {name: getattr(self, name) for name in self.param_names()}

    def fit(self, data: FitData, *, target: int, seed: int = 0, device: str = "cpu"):
        """Learn from ``data.train``, selecting on ``data.val``; return ``self``.

        The default learns nothing.  Must be deterministic given ``seed``.
        """
        return self

    def predict(self, noisy: np.ndarray, target: int) -> np.ndarray:
        """Estimate the clean target map: (B, C, H, W) float32 -> (B, H, W) float32 in [0, 1].

        An estimator with ``uses_past`` is called ``predict(noisy, target, warps)`` with
        sequences (B, T, C, H, W) and estimates their last frame.
        """
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """Parameter counts and other facts for provenance (learned estimators add theirs)."""
        return {}

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"
