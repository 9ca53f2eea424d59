"""Every published number the README quotes is the published results' (docs/readme_numbers.py)."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def numbers():
    spec = importlib.util.spec_from_file_location("readme_numbers",
                                                  ROOT / "docs" / "readme_numbers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_claim_of_the_readme_is_the_published_number(numbers):
    found = numbers.problems((ROOT / "README.md").read_text(encoding="utf-8"))
    assert not found, "\n".join(found) + "\n(python docs/readme_numbers.py --write)"


def test_the_formats_round_once_and_say_the_larger_side(numbers, monkeypatch):
    # 5.85 with an interval (4.10, 7.69): one rounding of each, the larger side (1.84).
    monkeypatch.setattr(numbers, "cell", lambda *args: (5.85, 4.10, 7.69))
    assert numbers.render("g", "default concat gain_mse 0.9") == "+5.8 ± 1.8"
    assert numbers.render("gv", "default concat gain_mse 0.9") == "+5.8"
    monkeypatch.setattr(numbers, "cell", lambda *args: (-0.04, -1.0, 1.0))
    assert numbers.render("g", "default concat gain_mse 0") == "+0.0 ± 1.0"
    monkeypatch.setattr(numbers, "cell", lambda *args: (-0.26, -1.0, 1.0))
    assert numbers.render("g", "default concat gain_mse 0") == "\u22120.3 ± 1.3"


def test_a_stale_number_is_named_and_rewritten(numbers, monkeypatch):
    claim = "concat gains {g default concat gain_mse 0.9} % at rho 0.9"
    monkeypatch.setattr(numbers, "CLAIMS", [claim])
    monkeypatch.setattr(numbers, "cell", lambda *args: (5.91, 4.2, 7.6))
    text = "Here concat gains +6.4 ± 1.7 % at rho 0.9, measured."
    assert numbers.problems(text) == [
        "stale: 'concat gains +6.4 ± 1.7 % at rho 0.9' -> 'concat gains +5.9 ± 1.7 % at rho 0.9'"]
    assert numbers.rewrite(text) == "Here concat gains +5.9 ± 1.7 % at rho 0.9, measured."
    assert numbers.problems("concat gains a lot") == [
        f"found 0 times (expected once): {claim!r}"]


def test_the_readme_shows_what_info_prints_for_the_default_dataset(tmp_path):
    """The README's `info` block is this output, on the command it names."""
    import re

    from cli_helpers import call

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    command = re.search(r"\(`generate default\.zarr (.*?)`;", text, re.S).group(1).split()
    block = text.split("from\n`tests/test_readme_numbers.py`, which checks it:\n\n```\n")[1]
    shown = block.split("```")[0].strip("\n").splitlines()
    store = str(tmp_path / "default.zarr")
    assert call(["generate", store, *command])[0] == 0
    code, out, err = call(["info", store])
    printed = out.splitlines()
    start = printed.index(shown[0])
    assert printed[start:start + len(shown)] == shown
