"""Predictions on the real ServiceNow log, with a time-ordered split and baselines from the same run.

    python -m benchmarks.bench_predictions [--path FILE] [--tiny]

Reads ../shared/data/servicenow_incident_event_log_full.csv.gz (24,918 incidents, 141,712 events). Train on
the incidents opened in the earlier 80%, test on the later 20%, predicting each incident at open time, one
hour after it opened, and right after its first assignment, from the events up to that point only.

- SLA-breach risk: AUC and Brier score of the calibrated model against the priority-only breach rate of the
  training incidents (target: AUC >= 0.80 at open time).
- Time to resolve (hours from the prediction point): MAE of the median model against the median per priority
  of the training incidents (target: 25% below), the interval's coverage, and, for honesty, the same
  baseline computed over the recency-weighted window the model chose.
- Volume anomalies: the seasonal rate model is fit on the training arrivals; bursts of N tickets of one
  category (or CI) within 30 minutes are injected at random times of the test period, and the share raised as
  an alert is reported, with the alerts the untouched test stream raises per day (false alarms).

Time to resolve misses its target (about 12% below the baseline at each point, not 25%), and we found no
honest way to reach it. The hours are heavy-tailed: in the test period the median is 3 h at open but the mean
138 h, and the 10% of tickets that take over 300 h carry about three quarters of the baseline's absolute
error; nothing known at prediction time tells them apart. Tried at open (validation = latest 20% of the
training rows; test figures in brackets): recency half-life 14 days (-13%); the share of recent tickets
(overall, per group, per category) resolved within an hour, a leak-free view of the desk's drift (val -16%,
test -12%); the CI's, caller's, group's and category's median duration and long-ticket share over tickets
that ended before the prediction time (val -16%, test -13%). As a ceiling, the same model fitted by 5-fold
cross-validation inside the test period itself (no drift, same distribution) reaches only -12%: the limit is
in the features the log offers at prediction time, not in the split or the loss (the model already predicts
the conditional median: quantile loss at 0.5 on log hours).

The recency half-life is chosen at open time on the latest 20% of the training rows (never on the test rows)
and kept for the later points. `--tiny`
reads the first 12,000 events and skips the choice (CI, < 60 s).
Results in benchmarks/results/predictions.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from itsm_ai.predictions.enums import Dimension
from itsm_ai.predictions.estimators import SeasonalRateModel
from itsm_ai.predictions.evaluation import evaluate_point, read_event_log, split_time
from itsm_ai.predictions.features import POINTS

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PATH = REPO_ROOT.parent / "shared" / "data" / "servicenow_incident_event_log_full.csv.gz"
RESULTS = REPO_ROOT / "benchmarks" / "results" / "predictions.json"
BURSTS = (3, 6, 10)


def _arrivals(df, column: str):
    first = df.groupby("number").head(1).set_index("number")
    first = first[first["opened_at"].notna()]
    return first["opened_at"].to_numpy(float), first[column].to_numpy(object)


def burst_detection(df, cut: float, column: str, *, trials: int, seed: int = 0) -> dict:
    """Detection rate of injected bursts and false alarms per day of the untouched test stream."""
    times, keys = _arrivals(df, column)
    train = times < cut
    model = SeasonalRateModel().fit(times[train], keys[train])
    window = model.window_hours * 3600.0
    test_times, test_keys = times[~train], keys[~train]
    order = np.argsort(test_times)
    test_times, test_keys = test_times[order], test_keys[order]
    by_key: dict = {}
    for t, k in zip(test_times, test_keys, strict=True):
        if k is not None:
            by_key.setdefault(k, []).append(t)
    by_key = {k: np.array(v) for k, v in by_key.items()}

    def count(key, t, extra=()):
        real = by_key.get(key, np.empty(0))
        n = int(np.searchsorted(real, t, "right") - np.searchsorted(real, t - window, "right"))
        return n + sum(1 for e in extra if t - window < e <= t)

    alarms, last_alarm = 0, {}
    for t, k in zip(test_times, test_keys, strict=True):
        if k is None:
            continue
        if model.score(k, t, count(k, t))["anomaly"] and t - last_alarm.get(k, -np.inf) > window:
            alarms += 1
            last_alarm[k] = t
    days = max((test_times.max() - test_times.min()) / 86400.0, 1.0)
    rng = np.random.default_rng(seed)
    train_keys = [k for k in keys[train] if k is not None]
    detected = {}
    for size in BURSTS:
        hits = 0
        for _ in range(trials):
            key = train_keys[rng.integers(len(train_keys))]
            start = rng.uniform(test_times.min(), test_times.max())
            burst = np.sort(start + rng.uniform(0, 1800.0, size))
            hits += any(
                model.score(key, t, count(key, t, burst[: i + 1]))["anomaly"] for i, t in enumerate(burst)
            )
        detected[size] = hits / trials
    return {
        "keys": len(model.rates_),
        "test_days": round(days, 1),
        "false_alarms_per_day": alarms / days,
        "detected": detected,
    }


def main(argv: list[str] | None = None) -> dict:
    """Run the evaluation and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", type=Path, default=DEFAULT_PATH)
    parser.add_argument("--tiny", action="store_true", help="first 12,000 events, no tuning (< 60 s)")
    args = parser.parse_args(argv)
    if not args.path.is_file():
        # The event log is not shipped with the repository (it lives in ../shared/data).
        print(f"skipped: data not found: {args.path}")
        return {}
    started = time.monotonic()
    df = read_event_log(args.path, nrows=12000 if args.tiny else None)
    cut = split_time(df)
    params = {"breach": {"max_iter": 40}, "ttr": {"max_iter": 40}} if args.tiny else {}
    out: dict = {"incidents": int(df["number"].nunique()), "events": len(df), "points": {}}
    print(f"{out['incidents']} incidents, {out['events']} events; split at {np.datetime64(int(cut), 's')}")
    print(
        f"{'point':<9}{'n test':>7}{'AUC':>7}{'base':>7}{'Brier':>7}{'base':>7}"
        f"{'MAE h':>8}{'base':>8}{'change':>8}{'cover':>7}"
    )
    half_lives = (None, None)
    for point in POINTS:
        # The half-lives are chosen once, at open time (on training rows), and kept for the later points.
        tune = point == POINTS[0] and not args.tiny
        result, _, _ = evaluate_point(df, point, cut=cut, params=params, tune=tune, half_lives=half_lives)
        if tune:
            half_lives = (result.breach["half_life_days"], result.ttr["half_life_days"])
        b, r = result.breach, result.ttr
        print(
            f"{point:<9}{result.n_test:>7}{b['auc']:>7.3f}{b['baseline_auc']:>7.3f}{b['brier']:>7.3f}"
            f"{b['baseline_brier']:>7.3f}{r['mae_hours']:>8.1f}{r['baseline_mae_hours']:>8.1f}"
            f"{r['mae_change']:>+8.1%}{r['interval_coverage']:>7.2f}"
        )
        out["points"][point] = {"n_train": result.n_train, "n_test": result.n_test, "breach": b, "ttr": r}
    trials = 30 if args.tiny else 300
    out["anomalies"] = {}
    for dimension, column in ((Dimension.category, "category"), (Dimension.ci, "ci")):
        found = burst_detection(df, cut, column, trials=trials)
        out["anomalies"][str(dimension)] = found
        rates = ", ".join(f"{n} tickets {rate:.0%}" for n, rate in found["detected"].items())
        print(
            f"bursts by {dimension}: detected {rates}; {found['false_alarms_per_day']:.2f} false alarms/day"
        )
    out["seconds"] = round(time.monotonic() - started, 1)
    print(f"{out['seconds']} s")
    if not args.tiny:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(out, indent=2, default=str) + "\n")
    return out


if __name__ == "__main__":
    main()
