"""One estimator's entry of a run directory: :class:`Record`, the typed view of its
``run.json`` record (its label, twin, curves and convergence as the reports read them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from ..curves import all_converged
from ..specs import HIDDEN_IN_LABELS, estimator_label


@dataclass(frozen=True)
class Record:
    """One estimator's entry of a run (a read-only view of its ``run.json`` record)."""

    name: str
    data: Mapping[str, Any]

    @property
    def ok(self) -> bool:
        return self.data.get("status") == "ok"

    @property
    def fixed_params(self) -> dict[str, Any]:
        """Parameters fixed for it, run-wide training settings included."""
        return dict(self.data.get("fixed_params") or {})

    @property
    def run_params(self) -> tuple[str, ...]:
        """Which of the fixed parameters came from run-wide training settings."""
        return tuple(self.data.get("run_params", ()))

    @property
    def label(self) -> str:
        """Its leaderboard row label: user-fixed parameters shown, run-wide ones hidden."""
        return estimator_label(self.name, self.fixed_params, (*HIDDEN_IN_LABELS, *self.run_params))

    @property
    def converged(self) -> bool | None:
        """Whether its training converged, judged now by :mod:`ogmbench.curves` from the
        curves it recorded (a run resumed from before the rule changed is judged by the
        rule of today); None when untold."""
        if not self.learned:
            return None
        return all_converged([info.get("describe", {}).get("curve")
                              if isinstance(info, dict) and isinstance(info.get("describe"), dict)
                              else None for info in self.data.get("train_seeds") or []])

    @property
    def curves(self) -> list[list[list[float]]]:
        """The learning curve (``[[step, val_mse[, lr]], ...]``) of each training seed."""
        out = []
        for info in self.data.get("train_seeds") or []:
            describe = info.get("describe") if isinstance(info, dict) else None
            if isinstance(describe, dict) and isinstance(describe.get("curve"), list):
                out.append(describe["curve"])
        return out

    @property
    def prior_source(self) -> str:
        """Where its X2 came from at training and test (``noisy`` unless it is a twin)."""
        return str(self.data.get("prior_source", "noisy"))

    @property
    def past_source(self) -> str:
        """Where its target's past frames came from (``noisy`` unless it is a past twin)."""
        return str(self.data.get("past_source", "noisy"))

    @property
    def twin_of(self) -> str | None:
        """The label of the estimator this is a twin of (None when it is none)."""
        if self.prior_source == "noisy" and self.past_source == "noisy":
            return None
        # specs.twin_name appends the X2 source, then the past's.
        base = self.name
        if self.past_source != "noisy":
            base = base.removesuffix(f"-past-{self.past_source}")
        if self.prior_source != "noisy":
            base = base.removesuffix(f"-{self.prior_source}")
        return estimator_label(base, self.fixed_params, (*HIDDEN_IN_LABELS, *self.run_params))

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.data.get("params", {}))

    @property
    def version(self) -> str:
        return str(self.data.get("version", ""))

    @property
    def uses_prior(self) -> bool:
        return bool(self.data.get("uses_prior", False))

    @property
    def uses_past(self) -> bool:
        return bool(self.data.get("uses_past", False))

    @property
    def learned(self) -> bool:
        return bool(self.data.get("stochastic", False))

    @property
    def kept(self) -> list[int]:
        """Test sample indices whose estimates were kept (empty when none)."""
        return list(self.data.get("kept", [])) if "kept_file" in self.data else []
