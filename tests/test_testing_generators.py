"""ogmbench.testing's kit for families and noise models: every registered one conforms,
and a broken one is told exactly which rules it breaks."""

from dataclasses import replace

import numpy as np
import pytest

from ogmbench.generators import FAMILIES, NOISE_MODELS, Calibration, Model, Param
from ogmbench.testing import (FAMILY_CHECKS, NOISE_CHECKS, GeneratorCheckError, check_family,
                              check_noise)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_every_registered_family_conforms(name):
    assert check_family(name) is True


@pytest.mark.parametrize("name", sorted(NOISE_MODELS))
def test_every_registered_noise_model_conforms(name):
    assert check_noise(name) is True


def _failures(run, name):
    with pytest.raises(GeneratorCheckError) as caught:
        run(name)
    return caught.value.failures, str(caught.value)


def _careless_family(rng, rho, size, *, classes=2):
    """Three bugs: bool maps, square ones (the width ignored), numpy's global state; and
    no check of rho."""
    height, _ = size
    return np.random.random((classes, height, height)) < 0.5


def test_a_broken_family_is_told_each_broken_rule(monkeypatch):
    monkeypatch.setitem(FAMILIES, "careless", Model("careless", _careless_family, (), doc="x"))
    failures, message = _failures(check_family, "careless")
    assert set(failures) == {"check_family_draws_valid_maps", "check_family_is_deterministic",
                             "check_family_handles_rho"}
    assert message.startswith(f"careless fails 3 of {len(FAMILY_CHECKS)} checks\n")
    assert "uint8" in failures["check_family_draws_valid_maps"]
    assert "seed 0 differ" in failures["check_family_is_deterministic"]


def test_what_a_family_declares_for_info_and_calibration_is_checked(monkeypatch):
    odd = replace(FAMILIES["field"], name="odd", expected_phi=lambda rho, params, classes: 2.0,
                  calibration=Calibration(objects={"car": ()}))
    monkeypatch.setitem(FAMILIES, "odd", odd)
    failures, _ = _failures(check_family, "odd")
    assert list(failures) == ["check_family_info_and_calibration"]
    assert "in [-1, 1], got [2.0]" in failures["check_family_info_and_calibration"]
    monkeypatch.setitem(FAMILIES, "odd", replace(odd, expected_phi=None))
    failures, _ = _failures(check_family, "odd")
    assert "objects of 'car', which is not a class of it" in failures[
        "check_family_info_and_calibration"]


def test_a_misregistered_family_fails_its_declaration(monkeypatch):
    monkeypatch.setitem(FAMILIES, "alias", FAMILIES["field"])
    failures, _ = _failures(check_family, "alias")
    assert set(failures) >= {"check_family_declares_itself"}
    assert "under its own name" in failures["check_family_declares_itself"]


def _float64(rng, x, *, p=0.1):
    return x + p * rng.standard_normal(x.shape)


def _careless_noise(rng, x, *, p=0.1):
    x += p * np.random.random(x.shape).astype(np.float32)  # in place, numpy's global state
    return np.clip(x, 0.0, 1.0)


def _escapes(rng, x, *, p=0.1):
    return (x + 1.0 + p).astype(np.float32)


@pytest.mark.parametrize(("func", "broken"), [
    (_float64, {"check_noise_output", "check_noise_composes"}),
    (_careless_noise, {"check_noise_is_deterministic"}),
    (_escapes, {"check_noise_output", "check_noise_composes"}),
])
def test_a_broken_noise_model_is_told_each_broken_rule(monkeypatch, func, broken):
    declared = (Param(name="p", default=0.1, lo=0.0, hi=1.0, doc="strength"),)
    monkeypatch.setitem(NOISE_MODELS, "broken", Model("broken", func, declared, doc="x"))
    failures, message = _failures(check_noise, "broken")
    assert set(failures) == broken
    assert message.startswith(f"broken fails {len(broken)} of {len(NOISE_CHECKS)} checks\n")


def test_a_noise_model_declaring_an_undocumented_parameter_fails(monkeypatch):
    model = replace(NOISE_MODELS["flip"], name="bare", params=(Param(name="fp", default=0.1),))
    monkeypatch.setitem(NOISE_MODELS, "bare", model)
    failures, _ = _failures(check_noise, "bare")
    assert "with a name and a doc" in failures["check_noise_declares_itself"]


def test_a_memory_step_must_agree_with_the_model_alone(monkeypatch):
    gaussian = NOISE_MODELS["gaussian"]

    def drifting(rng, x, carried, memory, **params):
        noisy, unit = gaussian.memory_step(rng, x, carried, memory, **params)
        return noisy + np.float32(0.01), unit

    monkeypatch.setitem(NOISE_MODELS, "drift", replace(gaussian, name="drift",
                                                        memory_step=drifting))
    failures, _ = _failures(check_noise, "drift")
    assert list(failures) == ["check_noise_memory"]


def test_unknown_names_are_refused():
    with pytest.raises(GeneratorCheckError, match="'nope' is no registered family"):
        check_family("nope")
    with pytest.raises(GeneratorCheckError, match="'nope' is no registered noise model"):
        check_noise("nope")
