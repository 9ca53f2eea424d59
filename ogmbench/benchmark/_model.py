"""What a benchmark file resolves to: a :class:`Benchmark` (one profile) of
:class:`Dataset` s, and :class:`BenchmarkError`, the one line that says why a file
cannot be used."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..api import PAST_CONTROLS
from ..config import GenerateConfig
from ..errors import ConfigError
from ..specs import EstimatorSpec, runs_on
from ..truth import TrueModel, readable


class BenchmarkError(ConfigError):
    """A benchmark file cannot be used; the message names the file, table and key."""


@dataclass(frozen=True)
class Dataset:
    """One dataset of a benchmark profile: its store settings and the class to denoise."""

    name: str
    config: GenerateConfig
    target: int
    description: str = ""

    @property
    def target_name(self) -> str:
        return self.config.class_names[self.target]

    def runs(self, spec: EstimatorSpec) -> bool:
        """Whether this dataset runs ``spec`` (one that reads the past needs sequences, a
        reference that knows the true model a dataset whose model it can read)."""
        if not runs_on(spec.cls, self.config.frames):
            return False
        return not getattr(spec.cls, "knows_model", False) or self.model_readable(spec.cls)

    def model_readable(self, cls: type | None = None) -> bool:
        """Whether a reference that knows the true model (of class ``cls``, if given) can
        read this dataset's."""
        config = self.config
        return readable(lambda: TrueModel.of(
            config.family, dict(config.family_params),
            [list(step) for step in config.noise_steps], config.classes, frames=config.frames,
            size=config.size), cls)

    def controls(self, controls: tuple[str, ...]) -> tuple[str, ...]:
        """The prior ``controls`` that apply to this dataset: those that replace past
        frames only where there are past frames (a dataset of sequences)."""
        return tuple(c for c in controls
                     if self.config.frames > 1 or c not in PAST_CONTROLS)


@dataclass(frozen=True)
class Benchmark:
    """One profile of a benchmark file, validated and resolved."""

    path: Path
    name: str
    version: int
    profile: str
    description: str
    profile_description: str
    datasets: tuple[Dataset, ...]
    estimators: tuple[str, ...]
    prior_controls: tuple[str, ...]
    reference: str
    seed: int
    training: str
    steps: int | None
    train_seeds: int
    device: str
    rtol: float
    atol: float
    atol_metric: dict[str, float] = field(default_factory=dict)
    profiles: tuple[str, ...] = field(default=())
    timeout: float | None = None  # seconds per estimator; not a result setting (no hash)
    dask: str | None = None  # where reproduce runs by default; not a result setting either
    specs: tuple[EstimatorSpec, ...] = field(default=())  # ``estimators``, resolved
    reference_label: str = ""
    # The data-scaling sweep: train samples per rho below the split's, and the estimators
    # (with the reference) trained at each.
    train_sizes: tuple[int, ...] = ()
    scaling: tuple[str, ...] = ()

    @property
    def scaling_specs(self) -> tuple[EstimatorSpec, ...]:
        """The reference and the ``scaling`` estimators: what each train size trains."""
        if not self.train_sizes:
            return ()
        wanted = {self.reference, *self.scaling}
        return tuple(spec for spec in self.specs if spec.name in wanted)

    @property
    def labels(self) -> tuple[str, ...]:
        """Row labels of the benchmark's estimators."""
        return tuple(spec.label for spec in self.specs)

    def tolerance(self, metric: str) -> tuple[float, float]:
        """(atol, rtol) of ``reproduce --check`` for one metric."""
        return self.atol_metric.get(metric, self.atol), self.rtol

    @property
    def training_params(self) -> dict[str, Any]:
        """Parameters fixed on every learned estimator (the profile's training)."""
        return {"profile": self.training, **({"steps": self.steps} if self.steps else {})}

    def to_json(self) -> dict[str, Any]:
        """Everything that determines the results (not the file's path or descriptions)."""
        return {
            "benchmark": self.name, "version": self.version, "profile": self.profile,
            "datasets": [{"name": d.name, "target": d.target, "config": d.config.to_json()}
                         for d in self.datasets],
            "estimators": list(self.estimators), "prior_controls": list(self.prior_controls),
            "reference": self.reference, "seed": self.seed, "training": self.training_params,
            "train_seeds": self.train_seeds, "device": self.device,
            **({"train_sizes": list(self.train_sizes), "scaling": list(self.scaling)}
               if self.train_sizes else {}),
        }

    @property
    def test_seed(self) -> int | None:
        """The profile's test seed (one revealed by a sealed reproduction), else None."""
        return self.datasets[0].config.test_seed if self.datasets else None

    def with_test_seed(self, seed: int) -> "Benchmark":
        """The same profile with every dataset's test split drawn from ``seed``."""
        return replace(self, datasets=tuple(replace(d, config=replace(d.config, test_seed=seed))
                                            for d in self.datasets))

    def config_hash(self, dataset: Dataset | None = None) -> str:
        """A short hash of the resolved settings (of one dataset's part, if given)."""
        data = self.to_json()
        if dataset is not None:
            data["datasets"] = [d for d in data["datasets"] if d["name"] == dataset.name]
            data["prior_controls"] = list(dataset.controls(self.prior_controls))
        text = json.dumps(data, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]
