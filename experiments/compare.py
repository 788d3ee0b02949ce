"""``mel-gym compare``: results fit for a paper, from the JSON that ``mel-gym evaluate --json`` and ``run`` write.

For every policy: the mean of each metric with its 95% percentile-bootstrap interval (:mod:`.stats`); for every
policy but the best baseline, the paired difference of its return and final accuracy against the best baseline (the
baseline with the largest mean return, ``random`` aside) over the seeds both played, each marked ``(better)`` or
``(worse)`` where its interval excludes 0; agents trained with several seeds (``NAME-seedN`` rows of ``run``) also
pooled into one row, their returns averaged per evaluation seed first. A results file that is not what evaluate or run
writes is refused with one line naming it (:func:`read_results_file`).
Per-cycle curves (test accuracy, tau, energy, participants, outages, test loss), mean over episodes with a bootstrap
band, go into one figure. Writes ``compare.md`` (the printed tables), ``compare.csv`` (a row per policy and metric) and
``compare.json``.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from mel_gym.agents.registry import BASELINE_NAMES
from mel_gym.experiments.episodes import json_safe
from mel_gym.experiments.stats import Interval, bootstrap_mean, paired_difference

#: The metrics of a result row that get an interval.
METRICS = ("return", "lql_return", "final_accuracy", "mean_tau")
#: The per-cycle curves plotted (the first from ``accuracy_curves``, the others from ``cycle_curves``).
CURVES = ("test_accuracy", "tau", "energy_j", "participants", "outages", "test_loss")
_SEED_ROW = re.compile(r"^(?P<name>.+)-seed\d+$")


def load_results(paths: Sequence[str | Path]) -> tuple[list[dict[str, Any]], dict[str, dict[str, list[list[float]]]]]:
    """The result rows of one or more results JSON files, and per policy its curves (name -> [episodes])."""
    rows: list[dict[str, Any]] = []
    curves: dict[str, dict[str, list[list[float]]]] = {}
    seen: dict[tuple[str, int], str] = {}
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no results file at '{path}' (mel-gym evaluate --json PATH or run write one)")
        data = read_results_file(path)
        for row in data["results"]:
            key = (row["policy"], int(row["seed"]))
            if key in seen:
                raise ValueError(f"policy {key[0]!r} played seed {key[1]} in both '{seen[key]}' and '{path}'; rename "
                                 "one of them")
            seen[key] = str(path)
            rows.append(row)
        for name, episodes in data.get("accuracy_curves", {}).items():
            curves.setdefault(name, {}).setdefault("test_accuracy", []).extend(episodes)
        for name, episodes in data.get("cycle_curves", {}).items():
            for episode in episodes:
                for key, values in episode.items():
                    curves.setdefault(name, {}).setdefault(key, []).append(values)
    return rows, curves


#: The keys every result row needs (``cycles_to_target`` may be missing: then it never reached the target).
ROW_KEYS = ("policy", "seed", *METRICS)


def read_results_file(path: Path) -> dict[str, Any]:
    """The parsed results JSON at ``path``, checked: a mapping whose ``results`` is a non-empty list of rows, each a
    mapping with :data:`ROW_KEYS` (a string policy, an integer seed, each metric a number or null), and curves, if
    any, as :func:`mel_gym.experiments.episodes.write_json` writes them.

    Raises:
        ValueError: one line naming the file and what is wrong.
    """
    what = "not a results file of mel-gym evaluate --json or run"
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"'{path}' is not valid JSON ({err}): {what}") from None
    except UnicodeDecodeError:
        raise ValueError(f"'{path}' is not a text file: {what}") from None
    if not isinstance(data, dict):
        raise ValueError(f"'{path}' holds a JSON {_json_type(data)}, not a mapping with 'results': {what}")
    if "results" not in data:
        raise ValueError(f"'{path}' has no 'results': {what}")
    rows = data["results"]
    if not isinstance(rows, list):
        raise ValueError(f"'{path}': 'results' is a JSON {_json_type(rows)}, not a list of result rows")
    if not rows:
        raise ValueError(f"'{path}': 'results' is empty: no episodes to compare")
    for i, row in enumerate(rows):
        where = f"'{path}': results[{i}]"
        if not isinstance(row, dict):
            raise ValueError(f"{where} is a JSON {_json_type(row)}, not a row (a mapping with {list(ROW_KEYS)})")
        missing = [key for key in ROW_KEYS if key not in row]
        if missing:
            raise ValueError(f"{where} has no {missing[0]!r}; every row needs {list(ROW_KEYS)}")
        if not isinstance(row["policy"], str):
            raise ValueError(f"{where}: 'policy' = {row['policy']!r} must be a string")
        if isinstance(row["seed"], bool) or not isinstance(row["seed"], int):
            raise ValueError(f"{where}: 'seed' = {row['seed']!r} must be an integer")
        for key in (*METRICS, "cycles_to_target"):
            value = row.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise ValueError(f"{where}: {key!r} = {value!r} must be a number or null")
    for key in ("accuracy_curves", "cycle_curves"):
        curves = data.get(key, {})
        if not isinstance(curves, dict) or not all(isinstance(v, list) for v in curves.values()):
            raise ValueError(f"'{path}': {key!r} must map each policy to a list of episodes")
    if not all(isinstance(e, dict) for episodes in data.get("cycle_curves", {}).values() for e in episodes):
        raise ValueError(f"'{path}': 'cycle_curves' must hold one mapping (curve name -> values) per episode")
    return data


def _json_type(value: Any) -> str:
    """What JSON calls the type of ``value``: null, number, string, list, mapping, boolean."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return {dict: "mapping", list: "list", str: "string"}.get(type(value), "number")


def _per_seed(rows: Sequence[dict[str, Any]], policy: str, metric: str) -> dict[int, float]:
    return {int(r["seed"]): float(r[metric]) for r in rows if r["policy"] == policy and r[metric] is not None}


def pooled_policies(rows: Sequence[dict[str, Any]]) -> dict[str, list[str]]:
    """``NAME (N training seeds)`` -> the ``NAME-seedK`` policies it pools (only names with at least two seeds)."""
    groups: dict[str, list[str]] = {}
    for name in dict.fromkeys(r["policy"] for r in rows):
        match = _SEED_ROW.match(name)
        if match:
            groups.setdefault(match["name"], []).append(name)
    return {f"{base} ({len(members)} training seeds)": members for base, members in groups.items() if len(members) > 1}


def compare(paths: Sequence[str | Path], out_dir: str | Path | None = None, level: float = 0.95,
            seed: int = 0) -> dict[str, Any]:
    """The comparison of the results in ``paths`` (see the module docstring); writes into ``out_dir`` when given.
    Returns {"policies": {name: {metric: Interval row, "episodes", "reached_target"}}, "best_baseline",
    "differences": {name: {"return": ..., "final_accuracy": ...}}, "text": the printed tables}."""
    rows, curves = load_results(paths)
    names = list(dict.fromkeys(r["policy"] for r in rows))
    per_seed = {name: {m: _per_seed(rows, name, m) for m in METRICS} for name in names}
    pooled = pooled_policies(rows)
    for label, members in pooled.items():  # average the training seeds' agents per evaluation seed
        per_seed[label] = {m: {s: float(np.mean([per_seed[n][m][s] for n in members]))
                               for s in set.intersection(*(set(per_seed[n][m]) for n in members))}
                           for m in METRICS}
        names.append(label)
    policies: dict[str, Any] = {}
    for name in names:
        members = pooled.get(name, [name])
        mine = [r for r in rows if r["policy"] in members]
        empty = [m for m in METRICS if not per_seed[name][m]]
        if empty and name in pooled:
            raise ValueError(f"policy {name!r} pools {', '.join(map(repr, members))}, which share no evaluation seed "
                             f"with a {empty[0]!r} value in {', '.join(map(str, paths))}: nothing to pool")
        if empty:
            raise ValueError(f"policy {name!r} has no {empty[0]!r} value (all null) in {', '.join(map(str, paths))}")
        policies[name] = {m: bootstrap_mean(list(per_seed[name][m].values()), level, seed=seed).row() for m in METRICS}
        policies[name]["episodes"] = len(mine)
        policies[name]["reached_target"] = sum(r.get("cycles_to_target") is not None for r in mine)
    baselines = [n for n in names if n in BASELINE_NAMES and n != "random"]
    best = max(baselines, key=lambda n: policies[n]["return"]["mean"]) if baselines else None
    differences: dict[str, Any] = {}
    if best is not None:
        for name in names:
            if name == best:
                continue
            differences[name] = {}
            for m in ("return", "final_accuracy"):
                if not set(per_seed[name][m]) & set(per_seed[best][m]):
                    raise ValueError(f"policy {name!r} and the best baseline {best!r} share no seed with a {m!r} in "
                                     f"{', '.join(map(str, paths))}: nothing to pair (evaluate them on the same seeds)")
                differences[name][m] = paired_difference(per_seed[name][m], per_seed[best][m], level, seed=seed).row()
    text = _format(names, policies, best, differences, level)
    result = {"policies": policies, "best_baseline": best, "differences": differences, "level": level, "text": text,
              "inputs": [str(p) for p in paths]}
    if out_dir is not None:
        _write(Path(out_dir), result, curves, names, level, seed)
    return result


def interval_text(row: dict[str, float]) -> str:
    """An interval row (:meth:`Interval.row`) as ``1.234 [1.100, 1.350]``."""
    return Interval(row["mean"], row["low"], row["high"], int(row["n"]), row["level"]).text()


def difference_text(row: dict[str, float]) -> str:
    """A paired difference's interval, marked ``(better)`` or ``(worse)`` where it excludes 0."""
    sign = " (better)" if row["low"] > 0 else " (worse)" if row["high"] < 0 else ""
    return interval_text(row) + sign


def csv_rows(result: dict[str, Any]) -> list[list[Any]]:
    """[policy, metric, mean, low, high, n, against] per policy and metric of :data:`METRICS`, then per paired
    difference (``<metric>_difference`` against the best baseline) of a :func:`compare` result."""
    rows = [[name, metric, r["mean"], r["low"], r["high"], r["n"], ""]
            for name, policy in result["policies"].items() for metric in METRICS for r in [policy[metric]]]
    rows += [[name, f"{metric}_difference", r["mean"], r["low"], r["high"], r["n"], result["best_baseline"]]
             for name, diff in result["differences"].items() for metric, r in diff.items()]
    return rows


def _format(names: list[str], policies: dict[str, Any], best: str | None, differences: dict[str, Any],
            level: float) -> str:
    pct = f"{level:.0%}"
    lines = [f"| policy | episodes | return [{pct} CI] | loss part | final test acc. | mean tau | reached target |",
             "|---|---|---|---|---|---|---|"]
    for name in names:
        p = policies[name]
        lines.append(f"| {name} | {p['episodes']} | {interval_text(p['return'])} | {interval_text(p['lql_return'])} | "
                     f"{interval_text(p['final_accuracy'])} | {interval_text(p['mean_tau'])} | {p['reached_target']} |")
    if best is None:
        return "\n".join(lines)
    lines += ["", f"Paired differences against the best baseline ({best}), over the seeds both played:", "",
              f"| policy | seeds | return difference [{pct} CI] | final accuracy difference [{pct} CI] |",
              "|---|---|---|---|"]
    for name, diff in differences.items():
        ret, acc = diff["return"], diff["final_accuracy"]
        lines.append(f"| {name} | {ret['n']} | {difference_text(ret)} | {difference_text(acc)} |")
    return "\n".join(lines)


def _write(out: Path, result: dict[str, Any], curves: dict[str, dict[str, list[list[float]]]], names: list[str],
           level: float, seed: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "compare.md").write_text(result["text"] + "\n")
    (out / "compare.json").write_text(json.dumps(json_safe({k: v for k, v in result.items() if k != "text"}),
                                                 indent=1, allow_nan=False))
    with open(out / "compare.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["policy", "metric", "mean", "low", "high", "n", "against"])
        writer.writerows(csv_rows(result))
    plotted = [n for n in names if n in curves]
    if plotted:
        plot_cycle_curves(out / "curves.png", {n: curves[n] for n in plotted}, level, seed)


def plot_cycle_curves(path: str | Path, curves: dict[str, dict[str, list[list[float]]]], level: float = 0.95,
                      seed: int = 0) -> None:
    """One panel per curve (:data:`CURVES`): per policy the mean over episodes per cycle and its bootstrap band,
    over the cycles every episode of that policy reached."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    labels = {"test_accuracy": "test accuracy", "tau": "tau", "energy_j": "energy spent by the learners (J)",
              "participants": "learners taking part", "outages": "links that failed", "test_loss": "test loss (nats)"}
    fig = Figure(figsize=(14, 7.5), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, 3).reshape(-1)
    for ax, key in zip(axes, CURVES):
        if not any(mine.get(key) for mine in curves.values()):  # e.g. results written before the curve was recorded
            ax.text(0.5, 0.5, "not in these results", ha="center", va="center", transform=ax.transAxes, color="gray")
        for name, mine in curves.items():
            episodes = mine.get(key, [])
            if not episodes:
                continue
            length = min(len(e) for e in episodes)
            if length == 0:
                continue
            values = np.array([e[:length] for e in episodes], dtype=np.float64)
            bands = [bootstrap_mean(values[:, c], level, samples=1000, seed=seed) for c in range(length)]
            x = np.arange(length) + (0 if key == "test_accuracy" else 1)  # accuracy starts at the reset
            ax.plot(x, [b.mean for b in bands], label=name)
            ax.fill_between(x, [b.low for b in bands], [b.high for b in bands], alpha=0.2)
        ax.set_xlabel("global cycle")
        ax.set_ylabel(labels[key])
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"mean over episodes per cycle, {level:.0%} bootstrap band", fontsize=9)
    fig.savefig(path)

