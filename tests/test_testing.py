"""ogmbench.testing: every broken rule is reported, under -O too, and one pytest test per rule."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ogmbench.api import Estimator
from ogmbench.baselines.classical import Median
from ogmbench.testing import (ALL_CHECKS, EstimatorCheckError, check_batch_independence,
                              check_estimator, check_fit_returns_self, check_predict_output,
                              parametrize_with_checks)

ROOT = Path(__file__).parent.parent
NAMES = [check.__name__ for check in ALL_CHECKS]


class Careless(Estimator):
    """Three bugs in predict: float64, a batch-dependent estimate, a modified input."""

    def predict(self, noisy, target):
        x = noisy[:, target]
        out = x - x.mean() + 0.5
        noisy[:, target] = 0.0
        return np.clip(out, 0, 1).astype(np.float64)


# The float64 output also breaks the rules that a zeroed prior and C = 1 give valid output.
CARELESS_FAILS = {"check_predict_output", "check_predict_leaves_input_unchanged",
                  "check_batch_independence", "check_zeroed_prior", "check_one_class_stack"}


class Misdeclared(Estimator):
    """A valid predict, but every declaration wrong."""

    uses_prior = 1
    param_grid = {"radius": [1, 2]}

    def __init__(self, size, scale=1.0):
        self.size = size
        self.scale = 2 * scale

    def fit(self, data, *, target, seed=0, device="cpu"):
        return None

    def predict(self, noisy, target):
        return np.clip(noisy[:, target], 0, 1)


class Crashing(Estimator):
    def fit(self, data, *, target, seed=0, device="cpu"):
        raise RuntimeError("no GPU here")

    def predict(self, noisy, target):
        return np.clip(noisy[:, target], 0, 1)


class Picky(Estimator):
    """Conforms with its default mode only; counts its fits."""

    fits: list = []

    def __init__(self, mode="good"):
        self.mode = mode

    def fit(self, data, *, target, seed=0, device="cpu"):
        type(self).fits.append(data.train.shape[0])
        return self

    def predict(self, noisy, target):
        out = np.clip(noisy[:, target], 0, 1)
        return out.astype(np.float32 if self.mode == "good" else np.float64)


def failures_of(estimator, **kwargs):
    with pytest.raises(EstimatorCheckError) as info:
        check_estimator(estimator, **kwargs)
    return info.value


def test_every_broken_rule_is_reported_at_once():
    error = failures_of(Careless)
    assert set(error.failures) == CARELESS_FAILS
    lines = str(error).splitlines()
    assert lines[0] == f"Careless fails {len(CARELESS_FAILS)} of {len(ALL_CHECKS)} checks"
    # One line per failure, in the order of ALL_CHECKS, each naming the check and the class.
    assert [line.split(":")[0].strip() for line in lines[1:]] == \
        [name for name in NAMES if name in CARELESS_FAILS]
    assert all("Careless" in line for line in lines[1:])
    assert "dtype float64" in error.failures["check_predict_output"]
    assert "modified its input" in error.failures["check_predict_leaves_input_unchanged"]
    assert "depends on the rest of its batch" in error.failures["check_batch_independence"]


def test_declarations_are_checked_each_on_its_own():
    error = failures_of(Misdeclared, params={"size": 3})
    assert error.failures == {
        "check_params_have_defaults": "Misdeclared: hyper-parameter(s) 'size' need a default",
        "check_param_grid_names_params":
            "Misdeclared.param_grid names 'radius', not parameters of __init__",
        "check_uses_prior_is_bool": "Misdeclared.uses_prior must be a bool, got int",
        "check_get_params_reads_back": "Misdeclared.get_params() does not read back the "
                                       "constructor's arguments: scale=2.0, expected 1.0",
        "check_fit_returns_self": "Misdeclared.fit must return self, returned None",
    }


def test_a_check_that_crashes_is_reported_and_the_others_still_run():
    error = failures_of(Crashing)
    fitted = NAMES[NAMES.index("check_fit_returns_self"):]
    assert set(error.failures) == set(fitted)
    assert all(error.failures[name] == "raised RuntimeError: no GPU here" for name in fitted)


def test_a_class_that_is_no_estimator_fails_every_check():
    error = failures_of(int)
    assert set(error.failures) == set(NAMES)
    assert error.failures["check_is_estimator_subclass"] == \
        "int must subclass ogmbench.api.Estimator"


def test_single_checks_raise_a_named_error_that_is_an_assertion_error():
    with pytest.raises(AssertionError, match=r"^Careless: a sample's estimate depends"):
        check_batch_independence(Careless)
    with pytest.raises(EstimatorCheckError, match=r"^Careless\.predict returned dtype float64"):
        check_predict_output(Careless)
    with pytest.raises(EstimatorCheckError, match=r"^Misdeclared\.fit must return self"):
        check_fit_returns_self(Misdeclared, {"size": 3})
    assert check_fit_returns_self(Careless) is None


def test_every_check_states_its_rule():
    for check in ALL_CHECKS:
        assert check.__name__.startswith("check_")
        assert check.__doc__ and check.__doc__.strip().splitlines()[0].endswith(".")


def test_an_instance_contributes_its_hyper_parameters():
    assert check_estimator(Picky()) is True
    assert set(failures_of(Picky(mode="bad")).failures) == {
        "check_predict_output", "check_zeroed_prior", "check_one_class_stack"}
    assert check_estimator(Picky(mode="bad"), params={"mode": "good"}) is True  # params win


def test_checks_fail_under_python_O():
    # Under -O every assert statement vanishes: the checks must not rely on one.
    code = ("import sys; sys.path.insert(0, 'tests'); print('debug', __debug__, flush=True); "
            "from test_testing import Careless; from ogmbench.testing import check_estimator; "
            "check_estimator(Careless)")
    proc = subprocess.run([sys.executable, "-O", "-c", code], cwd=ROOT, capture_output=True,
                          text=True)
    assert proc.stdout.split() == ["debug", "False"]
    assert proc.returncode == 1
    assert "EstimatorCheckError: Careless fails 5 of" in proc.stderr
    for name in CARELESS_FAILS:
        assert f"  {name}: Careless" in proc.stderr


def test_importing_ogmbench_testing_does_not_import_pytest():
    code = "import sys, ogmbench.testing; print('pytest' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.stdout.strip() == "False", proc.stderr


def cases(mark):
    return [(case.id, *case.values) for case in mark.args[1]]


def test_parametrize_ids_are_unique_and_name_the_check():
    mark = parametrize_with_checks([Median, Median(size=5), Median(size=3), Careless, Median])
    assert mark.args[0] == ("estimator", "check")
    found = cases(mark)
    ids = [case_id for case_id, _, _ in found]
    assert len(set(ids)) == len(ids) == 5 * len(ALL_CHECKS)
    labels = ["Median", "Median(size=5)", "Median_2", "Careless", "Median_3"]
    assert ids == [f"{label}-{name}" for label in labels for name in NAMES]
    for case_id, _, check in found:
        assert case_id.endswith(f"-{check.func.__name__}")


def test_parametrized_checks_fail_exactly_on_the_broken_rules():
    failed = set()
    for case_id, estimator, check in cases(parametrize_with_checks([Careless, Median])):
        try:
            check(estimator)
        except EstimatorCheckError:
            failed.add(case_id)
    assert failed == {f"Careless-{name}" for name in CARELESS_FAILS}


def test_parametrize_binds_params_into_each_check():
    found = {case_id: (estimator, check) for case_id, estimator, check
             in cases(parametrize_with_checks([Picky], params={"mode": "bad"}))}
    estimator, check = found["Picky-check_predict_output"]
    with pytest.raises(EstimatorCheckError, match="dtype float64"):
        check(estimator)


def test_parametrized_checks_share_one_fit_and_check_estimator_fits_afresh():
    class Counted(Picky):  # a class of its own: no fit of it is cached yet
        fits = []

    for _, estimator, check in cases(parametrize_with_checks([Counted])):
        check(estimator)
    # Once on the two-class data, once more for determinism, once on the one-class data.
    assert Counted.fits == [2, 2, 1]
    for _, estimator, check in cases(parametrize_with_checks([Counted])):
        check(estimator)
    assert len(Counted.fits) == 4  # only the determinism check fits again
    Counted.fits.clear()
    check_estimator(Counted)
    check_estimator(Counted)
    assert len(Counted.fits) == 6


def test_the_documented_parametrize_snippet_runs(tmp_path):
    doc = (ROOT / "docs" / "SUBMITTING.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", doc, re.S)
    snippet = next(block for block in blocks if "@parametrize_with_checks" in block)
    package = tmp_path / "mypkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "filters.py").write_text(blocks[0])  # the worked example, BoxFilter
    (tmp_path / "test_box.py").write_text(snippet)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [
        str(tmp_path), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider",
                           "test_box.py"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in NAMES:
        assert f"test_ogmbench[BoxFilter-{name}] PASSED" in proc.stdout
    assert f"{len(ALL_CHECKS)} passed" in proc.stdout


def test_a_declaration_that_refuses_its_own_default_fails_its_check():
    from ogmbench.api import Estimator, Hyper
    from ogmbench.testing import EstimatorCheckError, check_declared_params

    class Contradicts(Estimator):
        hyper = {"size": Hyper(int, lo=5)}

        def __init__(self, size=3):
            self.size = size

    with pytest.raises(EstimatorCheckError, match="refuses its own default"):
        check_declared_params(Contradicts)

    class Stray(Estimator):
        hyper = {"nope": Hyper(int)}

    with pytest.raises(EstimatorCheckError, match="declares 'nope'"):
        check_declared_params(Stray)


def test_check_estimator_says_it_fits_and_how_long(capsys):
    import re

    from ogmbench.baselines.classical import Median
    from ogmbench.testing import ALL_CHECKS, check_estimator

    assert check_estimator(Median)
    err = capsys.readouterr().err.splitlines()
    assert err[0] == (f"check_estimator: {len(ALL_CHECKS)} checks of Median; they fit it on "
                      "a tiny store")
    assert re.fullmatch(r"check_estimator: \d+ fits? took \d+\.\d s of \d+\.\d s", err[1])
    assert check_estimator(Median, verbose=False) and capsys.readouterr().err == ""
