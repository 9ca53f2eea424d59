"""The report's table model and renderers (the one LaTeX writer) and the leaderboard text."""

import html.parser

import pytest

from ogmbench import leaderboard
from ogmbench.metrics import METRICS, format_value
from ogmbench.report.markup import Cell, Table
from ogmbench.report.tables import render_leaderboard


def small_table():
    table = Table(key="k", title="MSE_1 & more", note="50% of #2 ± {x}", header=["estimator", "ρ=0"])
    table.rows = [[Cell("a_b"), Cell("0.1000 ± 0.0100", 0.1, bold=True)],
                  [Cell("c|d"), Cell("", None)]]
    return table


def test_markdown_escapes_pipes_and_marks_the_best():
    lines = small_table().markdown().splitlines()
    assert lines[0] == "**MSE_1 & more**"
    assert lines[4] == "| estimator | ρ=0 |" and lines[5] == "|---|---:|"
    assert lines[6] == "| a_b | **0.1000 ± 0.0100** |"
    assert lines[7] == "| c\\|d |  |"


def test_latex_is_booktabs_with_every_special_character_escaped():
    latex = small_table().latex()
    body = latex.split(r"\midrule")[1].split(r"\bottomrule")[0].strip().splitlines()
    assert body == [r"a\_b & \textbf{0.1000 $\pm$ 0.0100} \\", r"c|d &  \\"]
    assert r"\caption{MSE\_1 \& more. 50\% of \#2 $\pm$ \{x\}}" in latex
    assert r"estimator & $\rho$=0 \\" in latex
    for rule in (r"\toprule", r"\midrule", r"\bottomrule", r"\begin{tabular}{lr}"):
        assert latex.count(rule) == 1


def test_html_is_well_formed_with_sort_values():
    class Parser(html.parser.HTMLParser):
        def __init__(self):
            super().__init__()
            self.stack, self.values = [], []

        def handle_starttag(self, tag, attrs):
            self.stack.append(tag)
            self.values += [v for k, v in attrs if k == "data-value"]

        def handle_endtag(self, tag):
            assert self.stack.pop() == tag

    parser = Parser()
    parser.feed(small_table().html())
    assert parser.stack == [] and parser.values == ["0.1"]


@pytest.mark.parametrize("value, lo, hi, digits, text", [
    (0.1, 0.09, 0.12, 4, "0.1000 ± 0.0200"),   # the larger side of an asymmetric interval
    (0.1, 0.07, 0.11, 4, "0.1000 ± 0.0300"),
    (5.5, None, None, 2, "5.50"),
    (5.5, float("nan"), 6.0, 2, "5.50"),
    (float("nan"), 0.0, 1.0, 4, ""),
    (float("inf"), 0.0, 1.0, 4, ""),
])
def test_format_value(value, lo, hi, digits, text):
    assert format_value(value, lo, hi, digits) == text


def test_metric_table_is_complete_and_consistent(field_run):
    agg = leaderboard.aggregate(leaderboard.load_runs([field_run]))
    for key, info in METRICS.items():
        assert info.key == key and key in agg and f"{key}_lo" in agg and f"{key}_hi" in agg
        assert info.paired == (key in ("gain_mse", "d_iou", "gain_info", "gain_oracle",
                                      "gain_info_past", "gain_oracle_past", "gain_bayes",
                                      "share_bayes"))
    assert "brier" not in agg  # it equals MSE for estimates in [0, 1]


@pytest.mark.parametrize("metric", sorted(METRICS))
def test_leaderboard_text_shows_every_metric_with_its_digits(field_run, metric):
    agg = leaderboard.aggregate(leaderboard.load_runs([field_run]))
    text = render_leaderboard(agg, metric, "table")
    assert text.splitlines()[0].startswith(METRICS[metric].label)
    row = agg[(agg["estimator"] == "bayes-cell") & (agg["control"] == "none") & (agg["rho"] == "all")]
    expected = format_value(row[metric].iloc[0], row[f"{metric}_lo"].iloc[0],
                            row[f"{metric}_hi"].iloc[0], METRICS[metric].digits)
    assert expected in text


def test_rendered_formats(field_run):
    agg = leaderboard.aggregate(leaderboard.load_runs([field_run]))
    table = render_leaderboard(agg, "mse", "table")
    assert "bayes-cell" in table and "all" in table and "±" in table
    assert render_leaderboard(agg, "iou", "md").count("|") > 10
    latex = render_leaderboard(agg, "gain_mse", "latex")
    assert "\\toprule" in latex and "\\bottomrule" in latex and "$\\pm$" in latex
    with pytest.raises(leaderboard.LeaderboardError, match="unknown metric"):
        render_leaderboard(agg, "accuracy", "table")

@pytest.mark.parametrize("folder, apart", [("leaderboard/bev-cpu", True), ("leaderboard", False)])
def test_controls_far_off_scale_get_a_panel_of_their_own(monkeypatch, tmp_path, folder, apart):
    """The published bev-cpu gains (+3 to +12 %) beside a shuffled control at -100 to
    -230 %: drawn on one axis, the gains were flattened onto 0 (issue 28)."""
    from pathlib import Path

    import matplotlib
    import pandas as pd

    from ogmbench.report import figures

    matplotlib.use("Agg")
    root = Path(__file__).resolve().parents[1]
    results = pd.read_csv(root / folder / "results.csv", comment="#", dtype={"rho": str})
    dataset = results["dataset"].iloc[0]
    part = results[results["dataset"] == dataset]
    learned = set(part.loc[part["learned"].astype(bool), "estimator"])
    styles = figures._style(list(dict.fromkeys(part["estimator"])), learned)
    drawn = {}
    monkeypatch.setattr(figures, "_finish", lambda fig, ax, *a, **k: drawn.update(axes=ax))
    figures._curve_figure(results, dataset, METRICS["gain_mse"], "gain", "t", styles, learned,
                          tmp_path / "gain")
    axes = drawn["axes"]
    assert len(axes) == (2 if apart else 1)
    gains = part[(part["metric"] == "gain_mse") & (part["control"] == "none")
                 & part["learned"].astype(bool) & part["uses_prior"].astype(bool)
                 & (part["rho"] != "all")]
    low, high = axes[0].get_ylim()
    # The estimators' own panel is scaled to their bands, not to the controls'.
    assert low >= gains["lo"].min() - 0.2 * (high - low)
    assert high - low < 3 * (gains["hi"].max() - min(gains["lo"].min(), 0.0)) + 1


def _long_results(cells, metric="mse"):
    """A results table of one dataset: ``cells[estimator] = (value, lo, hi)`` over all
    rho and at rho 0.9, with a control row that must get no rank."""
    import pandas as pd

    rows = []
    for (estimator, control), (value, lo, hi) in cells.items():
        for rho in ("0.9", "all"):
            rows.append(dict(dataset="d", family="field", noise="gaussian:sigma=1", target=0,
                             target_name="X1", reference="identity", estimator=estimator,
                             control=control, rho=rho, metric=metric, value=value, lo=lo,
                             hi=hi, uses_prior=False, uses_past=False, learned=False,
                             converged=None, seeds=1))
    return pd.DataFrame(rows)


def test_rank_intervals_resolve_only_intervals_that_do_not_overlap():
    import pandas as pd

    from ogmbench.report.tables import build_tables

    # a and b overlap, both lie wholly apart from c, which overlaps d; e is far from all.
    # Lower is better for MSE, higher for IoU: the same intervals rank the other way.
    cells = {("a", "none"): (1.0, 0.9, 1.1), ("b", "none"): (1.15, 1.05, 1.25),
             ("c", "none"): (2.0, 1.9, 2.1), ("d", "none"): (2.05, 1.95, 2.2),
             ("e", "none"): (5.0, 4.9, 5.1)}
    cells[("a", "shuffled")] = cells[("a", "none")]
    results = pd.concat([_long_results(cells, "mse"), _long_results(cells, "iou")])
    tables = {t.key: t for t in build_tables(results, "d")}
    wanted = {"mse": {"a": "1–2", "b": "1–2", "c": "3–4", "d": "3–4", "e": "5"},
              "iou": {"e": "1", "c": "2–3", "d": "2–3", "a": "4–5", "b": "4–5"}}
    for metric, want in wanted.items():
        table = tables[f"d-{metric}"]
        assert table.header[-1] == "rank (all ρ)"
        ranks = [(row[0].text, row[-1].text) for row in table.rows]
        assert dict(r for r in ranks if r[0] in "abcde") == want
        assert [v for k, v in ranks if k not in "abcde"] == [""]   # the control row
