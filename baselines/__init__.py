"""Reference estimators (installed as ``ogmbench.baselines``); filled in by the evaluation issue."""
