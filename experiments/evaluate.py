"""``mel-gym evaluate``: run saved agents and baselines on the same held-out seeds; table, CSV, JSON, plot.

Every policy plays episode i on env seed ``seed + i``, so all of them meet the same learners, channels
and data draws (the world's randomness does not depend on the actions).
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from mel_gym.agents.policy import Policy, make_policy
from mel_gym.experiments.common import DEFAULT_ENV_ID, make_env

RESULT_FIELDS = ("policy", "env_id", "seed", "return", "final_accuracy", "cycles_to_target", "mean_tau")


@dataclass
class EpisodeResult:
    policy: str
    env_id: str
    seed: int
    episode_return: float
    final_accuracy: float
    cycles_to_target: int | None  # first cycle (1-based) whose test accuracy reached the target; None if never
    mean_tau: float
    accuracy_curve: list[float] = field(default_factory=list)  # test accuracy after reset and each cycle

    def row(self) -> dict[str, Any]:
        """The documented JSON/CSV fields."""
        return {"policy": self.policy, "env_id": self.env_id, "seed": self.seed, "return": self.episode_return,
                "final_accuracy": self.final_accuracy, "cycles_to_target": self.cycles_to_target,
                "mean_tau": self.mean_tau}


def run_episode(env: Any, policy: Policy, seed: int, label: str, env_id: str) -> EpisodeResult:
    """Play one episode with deterministic actions; returns its metrics."""
    target = env.unwrapped.scenario.target_accuracy
    obs, info = env.reset(seed=seed)
    curve, taus, total = [float(info["test_accuracy"])], [], 0.0
    reached: int | None = None
    done = False
    while not done:
        action, _ = policy.predict(obs, deterministic=True)
        obs, reward, terminated, truncated, info = env.step(action)
        total += reward
        taus.append(info["tau"])
        curve.append(float(info["test_accuracy"]))
        if reached is None and target is not None and info["test_accuracy"] >= target:
            reached = len(taus)
        done = terminated or truncated
    return EpisodeResult(label, env_id, seed, float(total), curve[-1], reached, float(np.mean(taus)), curve)


def evaluate(
    policies: Sequence[str],
    env_id: str = DEFAULT_ENV_ID,
    episodes: int = 10,
    seed: int = 10_000,
    scenario: str | None = None,
    env_kwargs: dict[str, Any] | None = None,
    device: str = "cpu",
    labels: Sequence[str] | None = None,
) -> list[EpisodeResult]:
    """Evaluate each policy spec (baseline name or saved agent path) on seeds seed .. seed + episodes - 1."""
    if episodes < 1:
        raise ValueError(f"episodes={episodes} must be >= 1")
    env = make_env(env_id, scenario, env_kwargs, device=device)
    results = []
    for i, spec in enumerate(policies):
        policy = make_policy(spec, env, seed=seed)
        label = labels[i] if labels else spec
        results += [run_episode(env, policy, seed + e, label, env_id) for e in range(episodes)]
    env.close()
    return results


def summarize(results: Sequence[EpisodeResult]) -> list[dict[str, Any]]:
    """Per policy, in first-seen order: mean and std of each metric, and how many episodes hit the target."""
    rows = []
    for name in dict.fromkeys(r.policy for r in results):
        mine = [r for r in results if r.policy == name]
        hits = [r.cycles_to_target for r in mine if r.cycles_to_target is not None]
        stats = lambda xs: (float(np.mean(xs)), float(np.std(xs))) if len(xs) else (math.nan, math.nan)  # noqa: E731
        rows.append({
            "policy": name, "episodes": len(mine),
            "return": stats([r.episode_return for r in mine]),
            "final_accuracy": stats([r.final_accuracy for r in mine]),
            "cycles_to_target": stats(hits), "reached_target": len(hits),
            "mean_tau": stats([r.mean_tau for r in mine]),
        })
    return rows


def format_table(rows: Sequence[dict[str, Any]], target: float | None) -> str:
    """A Markdown table of :func:`summarize` rows (mean ± std)."""
    pm = lambda m: "-" if math.isnan(m[0]) else f"{m[0]:.3f} ± {m[1]:.3f}"  # noqa: E731
    tgt = f"cycles to {target:.0%} acc." if target is not None else "cycles to target"
    lines = [f"| policy | return | final test acc. | {tgt} (reached) | mean tau |", "|---|---|---|---|---|"]
    for r in rows:
        c = r["cycles_to_target"]
        cycles = "-" if math.isnan(c[0]) else f"{c[0]:.1f} ± {c[1]:.1f}"
        lines.append(f"| {r['policy']} | {pm(r['return'])} | {pm(r['final_accuracy'])} | "
                     f"{cycles} ({r['reached_target']}/{r['episodes']}) | {pm(r['mean_tau'])} |")
    return "\n".join(lines)


def write_json(path: str | Path, results: Sequence[EpisodeResult], extra: dict[str, Any] | None = None) -> None:
    """``{"results": [per-episode rows], "summary": [...], "accuracy_curves": {policy: [[...], ...]}, **extra}``."""
    payload = {"results": [r.row() for r in results], "summary": json_safe(summarize(results)),
               "accuracy_curves": {r.policy: [] for r in results}}
    for r in results:
        payload["accuracy_curves"][r.policy].append(r.accuracy_curve)
    payload.update(extra or {})
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(payload, indent=1, allow_nan=False))


def write_csv(path: str | Path, results: Sequence[EpisodeResult]) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=RESULT_FIELDS)
        writer.writeheader()
        for r in results:
            writer.writerow({k: ("" if v is None else v) for k, v in r.row().items()})


def plot_accuracy(path: str | Path, results: Sequence[EpisodeResult], title: str = "") -> None:
    """Test accuracy per global cycle, mean over episodes with a ±1 std band, one line per policy."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.2), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for name in dict.fromkeys(r.policy for r in results):
        curves = [r.accuracy_curve for r in results if r.policy == name]
        length = min(len(c) for c in curves)
        arr = np.array([c[:length] for c in curves])
        mean, std = arr.mean(axis=0), arr.std(axis=0)
        cycles = np.arange(length)
        ax.plot(cycles, mean, label=name)
        ax.fill_between(cycles, mean - std, mean + std, alpha=0.2)
    ax.set_xlabel("global cycle")
    ax.set_ylabel("test accuracy")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)


def json_safe(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Summary rows with NaN replaced by None (for JSON)."""
    clean = lambda v: None if isinstance(v, float) and math.isnan(v) else v  # noqa: E731
    return [{k: (tuple(clean(x) for x in v) if isinstance(v, tuple) else clean(v)) for k, v in r.items()} for r in rows]


__all__ = ["EpisodeResult", "evaluate", "format_table", "plot_accuracy", "run_episode", "summarize",
           "write_csv", "write_json"]
