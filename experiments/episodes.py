"""The one episode runner of the experiments (evaluate, run, reproduce) and what it measures.

:func:`play` runs a policy on one native vector env whose sub-env i is seeded with ``seeds[i]``: every policy
meets the same learners, channels and data draws (the world's randomness does not depend on the actions), and
all episodes of a policy run as one batched simulator. Each episode gives an :class:`EpisodeResult`;
:func:`summarize`, :func:`format_table`, :func:`write_json`, :func:`write_csv` and :func:`plot_curves` turn them
into the tables, files and figures of every command.
"""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import gymnasium as gym
import numpy as np

from mel_gym.agents.registry import Policy
from mel_gym.experiments import progress

RESULT_FIELDS = ("policy", "env_id", "seed", "return", "lql_return", "final_accuracy", "cycles_to_target",
                 "mean_tau")
JOB_FIELDS = ("job_accuracy", "job_cycles_to_target")
#: The per-cycle curves an episode records besides the test accuracy (tau; the learners' energy in J, outages and
#: participants summed over the learners; the test loss after the cycle).
CYCLE_CURVES = ("tau", "energy_j", "participants", "outages", "test_loss")


@dataclass
class EpisodeResult:
    """One episode of one policy. ``lql_return`` is the learning-quality part of the return (the summed
    ``reward_lql``: scale x validation-loss decrease, or accuracy gain), without the tau bonus and penalties."""

    policy: str
    env_id: str
    seed: int
    episode_return: float
    lql_return: float
    final_accuracy: float
    cycles_to_target: int | None  # first cycle (1-based) whose test accuracy reached the target; None if never
    mean_tau: float
    accuracy_curve: list[float] = field(default_factory=list)  # test accuracy after reset and each cycle
    # MultiJob-v0: each job's final test accuracy and first cycle (1-based) at which it was done (None: never)
    job_accuracy: list[float] | None = None
    job_cycles_to_target: list[int | None] | None = None
    # per cycle: :data:`CYCLE_CURVES`
    cycle_curves: dict[str, list[float]] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        """The documented JSON/CSV fields (and the per-job ones of MultiJob-v0 in JSON)."""
        row = {"policy": self.policy, "env_id": self.env_id, "seed": self.seed, "return": self.episode_return,
               "lql_return": self.lql_return, "final_accuracy": self.final_accuracy,
               "cycles_to_target": self.cycles_to_target, "mean_tau": self.mean_tau}
        if self.job_accuracy is not None:
            row.update(job_accuracy=self.job_accuracy, job_cycles_to_target=self.job_cycles_to_target)
        return row


def cycles_to(curve: Sequence[float], target: float | None) -> int | None:
    """The first cycle (1-based) whose test accuracy reaches ``target`` (``curve[0]`` is after reset); None if never."""
    if target is None:
        return None
    hit = np.flatnonzero(np.asarray(curve[1:]) >= target)
    return int(hit[0]) + 1 if hit.size else None


def planned_cycles(env: Any, episodes: int = 1) -> int:
    """The cycles ``episodes`` episodes of ``env`` (an env or its ``unwrapped``) count in the progress lines: the
    horizon's cycles each (:func:`play` counts an episode that ended early as a whole one)."""
    return int(episodes) * int(env.unwrapped.params.horizon_cycles)


def episode_horizon(env_id: str, env_kwargs: dict[str, Any] | None = None) -> int:
    """The horizon (cycles per episode) of ``gym.make(env_id, **env_kwargs)``: what one episode counts in the
    progress lines."""
    env = gym.make(env_id, **(env_kwargs or {}))
    try:
        return planned_cycles(env)
    finally:
        env.close()


class _VectorView:
    """What a policy factory reads from an env, for a vector env: the problem and the single action space."""

    def __init__(self, vector_env: gym.vector.VectorEnv):
        self.problem = vector_env.unwrapped.problem
        self.action_space = vector_env.single_action_space


def play(make_agent: Callable[[Any, gym.spaces.Space], Policy], env_id: str, seeds: Sequence[int], label: str,
         env_kwargs: dict[str, Any] | None = None, device: str = "cpu") -> list[EpisodeResult]:
    """Play one episode per seed with deterministic actions, all in one native vector env.

    Each step advances the open progress task (:mod:`mel_gym.experiments.progress`) by the episodes still running:
    a whole call counts ``len(seeds)`` x the horizon's cycles (:func:`planned_cycles`).

    Args:
        make_agent: (problem, single action space) -> policy; called once.
        seeds: sub-env i is reset with ``seeds[i]`` (as ``gym.make(env_id).reset(seed=seeds[i])`` would be).
        label: the policy's name in the results.
        env_kwargs: scenario and env parameters, as for ``gym.make``.
    """
    env = gym.make_vec(env_id, num_envs=len(seeds), vectorization_mode="vector_entry_point", device=device,
                       **(env_kwargs or {}))
    target = env.unwrapped.scenario.target_accuracy
    view = _VectorView(env)
    agent = make_agent(view.problem, view.action_space)
    obs, info = env.reset(seed=[int(s) for s in seeds])
    n = len(seeds)
    curves = [[float(a)] for a in info["test_accuracy"]]
    returns, lql, taus = np.zeros(n), np.zeros(n), [[] for _ in range(n)]
    per_cycle: list[dict[str, list[float]]] = [{key: [] for key in CYCLE_CURVES} for _ in range(n)]
    success: list[int | None] = [None] * n  # the first cycle whose info says is_success (every job done)
    jobs = "job_done" in info
    job_done = [[0 if done else None for done in row] for row in info["job_done"]] if jobs else None
    job_acc = [list(map(float, a)) for a in info["job_accuracy"]] if jobs else None
    running = np.ones(n, dtype=bool)
    played, planned = 0, planned_cycles(env, n)
    while running.any():
        actions, _ = agent.predict(obs, deterministic=True)
        obs, reward, terminated, truncated, info = env.step(actions)
        progress.advance(int(running.sum()))  # the cycles played: the unit of the commands' progress lines
        played += int(running.sum())
        for i in np.flatnonzero(running):  # NEXT_STEP autoreset: an ended sub-env's next step is a reset, ignored
            returns[i] += reward[i]
            lql[i] += info["reward_lql"][i]
            taus[i].append(float(info["tau"][i]))
            curves[i].append(float(info["test_accuracy"][i]))
            for key in CYCLE_CURVES:  # per-learner arrays: summed over the learners
                per_cycle[i][key].append(float(np.sum(info[key if key != "outages" else "outage"][i])))
            if success[i] is None and info.get("is_success", np.zeros(n, bool))[i]:
                success[i] = len(curves[i]) - 1
            if jobs:
                job_acc[i] = list(map(float, info["job_accuracy"][i]))
                job_done[i] = [c if c is not None else (len(curves[i]) - 1 if done else None)
                               for c, done in zip(job_done[i], info["job_done"][i])]
        running &= ~(terminated | truncated)
    progress.advance(max(planned - played, 0))  # episodes that ended before the horizon count as whole ones
    env.close()
    return [EpisodeResult(label, env_id, int(seeds[i]), float(returns[i]), float(lql[i]), curves[i][-1],
                          success[i] if target is None else cycles_to(curves[i], target), float(np.mean(taus[i])),
                          curves[i], job_acc[i] if jobs else None, job_done[i] if jobs else None, per_cycle[i])
            for i in range(n)]


# ---------------------------------------------------------------------------------------------------- tables


class _PerBlockKnobs:
    """A baseline with knobs that plays ``settings[i]`` in rows ``[i block, (i + 1) block)`` of a batch of
    observations: many knob settings in one vector env (:func:`play_settings`)."""

    def __init__(self, policy: Any, settings: Sequence[dict[str, float]], block: int):
        self.policy, self.settings, self.block = policy, list(settings), block

    def predict(self, observation: np.ndarray, state: Any = None, episode_start: Any = None,
                deterministic: bool = True) -> tuple[np.ndarray, Any]:
        rows = []
        for r, row in enumerate(np.asarray(observation)):
            self.policy.set_knobs(self.settings[r // self.block])
            rows.append(self.policy.act(row))
        return np.stack(rows), state


#: Sub-envs of one vector env at most when :func:`play_settings` plays many settings at once.
MAX_BATCH = 128


def play_settings(make_policy: Callable[[Any, gym.spaces.Space], Any], settings: Sequence[dict[str, float]],
                  env_id: str, seeds: Sequence[int], label: str, env_kwargs: dict[str, Any] | None = None,
                  device: str = "cpu") -> list[list[EpisodeResult]]:
    """Every knob setting of a baseline (``make_policy``: (problem, single action space) -> the baseline, its knobs
    set by each setting in turn) played on every seed, many settings in one vector env (at most :data:`MAX_BATCH`
    sub-envs): one list of results (in ``seeds`` order) per setting. What each episode meets depends on its seed
    only, so this plays what one :func:`play` per setting would, up to float32 rounding of the batched training."""
    n = len(seeds)
    per_batch = max(1, MAX_BATCH // n)
    out: list[list[EpisodeResult]] = []
    for start in range(0, len(settings), per_batch):
        chunk = list(settings[start : start + per_batch])
        results = play(lambda problem, space: _PerBlockKnobs(make_policy(problem, space), chunk, n), env_id,
                       list(seeds) * len(chunk), label, env_kwargs, device)
        out += [results[i * n : (i + 1) * n] for i in range(len(chunk))]
    return out


def _stats(xs: Sequence[float]) -> tuple[float, float]:
    return (float(np.mean(xs)), float(np.std(xs))) if len(xs) else (math.nan, math.nan)


def summarize(results: Sequence[EpisodeResult]) -> list[dict[str, Any]]:
    """Per policy, in first-seen order: mean and std of each metric, and how many episodes hit the target."""
    rows = []
    for name in dict.fromkeys(r.policy for r in results):
        mine = [r for r in results if r.policy == name]
        hits = [r.cycles_to_target for r in mine if r.cycles_to_target is not None]
        rows.append({
            "policy": name, "episodes": len(mine),
            "return": _stats([r.episode_return for r in mine]),
            "lql_return": _stats([r.lql_return for r in mine]),
            "final_accuracy": _stats([r.final_accuracy for r in mine]),
            "cycles_to_target": _stats(hits), "reached_target": len(hits),
            "mean_tau": _stats([r.mean_tau for r in mine]),
        })
    return rows


def summarize_seeds(rows: Sequence[dict[str, Any]], names: Sequence[str], label: str) -> dict[str, Any]:
    """One row for an agent trained with several seeds: each metric's mean ± std across the seeds' means
    (``names``: the rows of the seeds), episodes and target hits summed."""
    mine = [r for r in rows if r["policy"] in names]
    row: dict[str, Any] = {"policy": label, "episodes": sum(r["episodes"] for r in mine),
                           "reached_target": sum(r["reached_target"] for r in mine)}
    for key in ("return", "lql_return", "final_accuracy", "cycles_to_target", "mean_tau"):
        row[key] = _stats([r[key][0] for r in mine if not math.isnan(r[key][0])])
    return row


def compare_with_best(rows: Sequence[dict[str, Any]], learned: dict[str, Any], baselines: Sequence[str]) -> str:
    """One line: the learned row against the baseline with the best mean return, in return and in cycles to
    the target (both relative to the baseline; fewer cycles is better)."""
    candidates = [r for r in rows if r["policy"] in baselines]
    if not candidates:
        return ""
    best = max(candidates, key=lambda r: r["return"][0])
    gain = (learned["return"][0] - best["return"][0]) / abs(best["return"][0]) if best["return"][0] else math.nan
    text = (f"{learned['policy']} vs the best baseline ({best['policy']}): return {gain:+.1%}")
    if not (math.isnan(learned["cycles_to_target"][0]) or math.isnan(best["cycles_to_target"][0])):
        mine, theirs = learned["cycles_to_target"][0], best["cycles_to_target"][0]
        change = f"{mine / theirs - 1.0:.1%} more" if mine > theirs else f"{1.0 - mine / theirs:.1%} fewer"
        text += (f"; cycles to the target {mine:.1f} vs {theirs:.1f} ({change}; reached "
                 f"{learned['reached_target']}/{learned['episodes']} vs {best['reached_target']}/{best['episodes']})")
    return text


def format_table(rows: Sequence[dict[str, Any]], target: float | None, metric: str = "loss") -> str:
    """A Markdown table of :func:`summarize` rows (mean ± std); the return's learning-quality part beside it."""
    pm = lambda m: "-" if math.isnan(m[0]) else f"{m[0]:.3f} ± {m[1]:.3f}"  # noqa: E731
    tgt = f"cycles to {target:.0%} acc." if target is not None else "cycles to target"
    part = f"{metric} part"  # the learning-quality part: loss, accuracy or value (jobs paid)
    lines = [f"| policy | return | {part} | final test acc. | {tgt} (reached) | mean tau |", "|---|---|---|---|---|---|"]
    for r in rows:
        c = r["cycles_to_target"]
        cycles = "-" if math.isnan(c[0]) else f"{c[0]:.1f} ± {c[1]:.1f}"
        lines.append(f"| {r['policy']} | {pm(r['return'])} | {pm(r['lql_return'])} | {pm(r['final_accuracy'])} | "
                     f"{cycles} ({r['reached_target']}/{r['episodes']}) | {pm(r['mean_tau'])} |")
    return "\n".join(lines)


def format_job_table(results: Sequence[EpisodeResult], job_names: Sequence[str]) -> str:
    """MultiJob-v0: per policy and job, the mean final test accuracy and cycles to the job's target (reached)."""
    lines = ["| policy | " + " | ".join(job_names) + " |", "|---|" + "---|" * len(job_names)]
    for name in dict.fromkeys(r.policy for r in results):
        mine = [r for r in results if r.policy == name and r.job_accuracy is not None]
        if not mine:
            continue
        cells = []
        for j in range(len(job_names)):
            acc = np.mean([r.job_accuracy[j] for r in mine])
            hits = [r.job_cycles_to_target[j] for r in mine if r.job_cycles_to_target[j] is not None]
            cycles = f"{np.mean(hits):.1f}" if hits else "-"
            cells.append(f"{acc:.3f}, {cycles} ({len(hits)}/{len(mine)})")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def json_safe(value: Any) -> Any:
    """``value`` with NaN and inf replaced by None, tuples as lists (for strict JSON)."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path: str | Path, results: Sequence[EpisodeResult], extra: dict[str, Any] | None = None) -> None:
    """``{"results": [per-episode rows], "summary": [...], "accuracy_curves": {policy: [[...], ...]},
    "cycle_curves": {policy: [{"tau": [...], "energy_j": [...], ...}, ...]}, **extra}`` (:data:`CYCLE_CURVES`; curves
    in the order of the results' episodes)."""
    payload: dict[str, Any] = {"results": [r.row() for r in results], "summary": summarize(results),
                               "accuracy_curves": {r.policy: [] for r in results},
                               "cycle_curves": {r.policy: [] for r in results}}
    for r in results:
        payload["accuracy_curves"][r.policy].append(r.accuracy_curve)
        payload["cycle_curves"][r.policy].append(r.cycle_curves)
    payload.update(extra or {})
    Path(path).write_text(json.dumps(json_safe(payload), indent=1, allow_nan=False))


def write_csv(path: str | Path, results: Sequence[EpisodeResult]) -> None:
    """One row per episode (:data:`RESULT_FIELDS`; MultiJob-v0 adds the per-job columns, values separated by
    spaces, a job that never reached its target as -)."""
    jobs = any(r.job_accuracy is not None for r in results)
    cell = lambda v: ("" if v is None else " ".join("-" if x is None else str(x) for x in v)  # noqa: E731
                      if isinstance(v, list) else v)
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=RESULT_FIELDS + (JOB_FIELDS if jobs else ()))
        writer.writeheader()
        for r in results:
            writer.writerow({k: cell(v) for k, v in r.row().items()})


def plot_curves(path: str | Path, curves: dict[str, np.ndarray], title: str = "", hlines: Sequence[float] = (),
                ylabel: str = "test accuracy") -> None:
    """Mean per global cycle over episodes with a ±1 std band, one line per policy (``curves``: policy ->
    (episodes, cycles + 1)), and dashed lines at ``hlines``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.2), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for name, arr in curves.items():
        mean, std = arr.mean(axis=0), arr.std(axis=0)
        x = np.arange(arr.shape[1])
        ax.plot(x, mean, label=name)
        ax.fill_between(x, mean - std, mean + std, alpha=0.2)
    for y in hlines:
        ax.axhline(y, color="gray", linestyle="--", linewidth=0.8)
    ax.set_xlabel("global cycle")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right", ncol=2 if len(curves) > 6 else 1)
    fig.savefig(path)


def accuracy_curves(results: Sequence[EpisodeResult]) -> dict[str, np.ndarray]:
    """policy -> (episodes, cycles + 1) test accuracy, truncated to the shortest episode of that policy."""
    out = {}
    for name in dict.fromkeys(r.policy for r in results):
        mine = [r.accuracy_curve for r in results if r.policy == name]
        length = min(len(c) for c in mine)
        out[name] = np.array([c[:length] for c in mine])
    return out


def write_tensorboard(log_dir: str | Path, results: Sequence[EpisodeResult]) -> None:
    """Per policy (a run folder each under ``log_dir``), the mean over its episodes of every per-cycle curve
    (``eval/test_accuracy`` from the reset on, ``eval/<curve>`` of :data:`CYCLE_CURVES`) with the cycle as the step,
    for TensorBoard (``tensorboard --logdir log_dir``)."""
    from torch.utils.tensorboard import SummaryWriter

    for name in dict.fromkeys(r.policy for r in results):
        mine = [r for r in results if r.policy == name]
        writer = SummaryWriter(str(Path(log_dir) / re.sub(r"[^A-Za-z0-9_.-]", "_", name)))
        curves = {"test_accuracy": [r.accuracy_curve for r in mine]}
        curves.update({key: [r.cycle_curves.get(key, []) for r in mine] for key in CYCLE_CURVES})
        for key, episodes in curves.items():
            length = min(len(e) for e in episodes)
            for cycle in range(length):
                step = cycle if key == "test_accuracy" else cycle + 1  # accuracy starts at the reset
                writer.add_scalar(f"eval/{key}", float(np.mean([e[cycle] for e in episodes])), step)
        writer.close()
