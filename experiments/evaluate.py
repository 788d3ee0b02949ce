"""``mel-gym evaluate``: run saved agents and baselines on the same held-out seeds; table, CSV, JSON, plot.

Every policy plays episode i on env seed ``seed + i``, so all of them meet the same learners, channels and
data draws (the world's randomness does not depend on the actions). The episodes of a policy run as one
batched env (:func:`mel_gym.experiments.episodes.play`); results are written after each policy.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from mel_gym.agents.planners import grid_settings
from mel_gym.agents.registry import make_policy
from mel_gym.experiments import progress
from mel_gym.experiments.common import DEFAULT_ENV_ID, env_kwargs_with, make_env
from mel_gym.experiments.episodes import (EpisodeResult, accuracy_curves, episode_horizon, planned_cycles, play,
                                          play_settings, plot_curves, summarize, write_csv, write_json)


def evaluate(
    policies: Sequence[str],
    env_id: str = DEFAULT_ENV_ID,
    episodes: int = 10,
    seed: int = 10_000,
    scenario: str | None = None,
    env_kwargs: dict[str, Any] | None = None,
    device: str = "cpu",
    labels: Sequence[str] | None = None,
    on_policy_done: Callable[[list[EpisodeResult]], None] | None = None,
    log: Callable[[str], None] | None = None,
    tune_seeds: Sequence[int] = tuple(range(8)),
    tuned: dict[str, Any] | None = None,
) -> list[EpisodeResult]:
    """Evaluate each policy spec (baseline name or saved agent path) on seeds seed .. seed + episodes - 1.

    A baseline with knobs to tune (``ha-sync-threshold``, the ``-fraction`` baselines, ...) first tries every setting
    of its knob grids on ``tune_seeds`` (training seeds, never the evaluation seeds) and keeps the one with the best
    mean return; the choice is logged and recorded in ``tuned`` (label -> {knob: value, "scores": [every setting
    with its mean return]}) when given. ``on_policy_done(results so far)`` is called after each
    policy (to write results as they come); ``log`` gets one progress line per policy. The work is one progress
    task (:mod:`mel_gym.experiments.progress`) counted in episode-cycles, tuning included.
    """
    if episodes < 1:
        raise ValueError(f"episodes={episodes} must be >= 1")
    kwargs = env_kwargs_with(scenario, env_kwargs)
    seeds = list(range(seed, seed + episodes))
    env = make_env(env_id, scenario, env_kwargs).unwrapped  # every policy is built (and checked) before any runs
    agents = [make_policy(spec, env.problem, env.action_space, seed=seed, device=device) for spec in policies]
    env.close()
    overlap = sorted(set(seeds) & {int(s) for s in tune_seeds})
    if overlap and any(getattr(agent, "tuning", None) for agent in agents):
        raise ValueError(f"seed={seed}, episodes={episodes}: the evaluation seeds {seeds[0]}..{seeds[-1]} include the "
                         f"tuning seeds {overlap[0]}..{overlap[-1]} of the tuned baselines; evaluate on seeds above "
                         f"{max(tune_seeds)} (held out)")
    results: list[EpisodeResult] = []
    episodes_each = [episodes + (len(grid_settings(agent.tuning)) * len(tune_seeds) if getattr(agent, "tuning", None)
                                 else 0) for agent in agents]  # tuning plays every setting on every tuning seed
    with progress.task(f"evaluate {len(policies)} policies", planned_cycles(env, sum(episodes_each)),
                       "episode-cycles") as job:
        for i, (spec, agent) in enumerate(zip(policies, agents)):
            label = labels[i] if labels else spec
            job.what = f"evaluate {label} ({i + 1}/{len(policies)} policies, {episodes} episodes each)"
            started = time.perf_counter()
            if getattr(agent, "tuning", None):
                tune(agent, env_id, list(tune_seeds), label, kwargs, device, log, tuned)
            results += play(lambda problem, space, agent=agent: agent, env_id, seeds, label, kwargs, device)
            if log:
                log(f"[evaluate] {label}: {episodes} episodes in {time.perf_counter() - started:.0f} s "
                    f"({i + 1}/{len(policies)} policies)")
            if on_policy_done:
                on_policy_done(results)
    return results


def episode_policy(spec: str, env_id: str, kwargs: dict[str, Any], problem: Any, action_space: Any, seed: int,
                   device: str = "cpu", tune_seeds: Sequence[int] = tuple(range(8)),
                   log: Callable[[str], None] | None = None) -> Any:
    """The policy ``spec`` ready to play the episode of env seed ``seed`` (``kwargs``: the env's keyword arguments,
    scenario included): a baseline with knobs is tuned on ``tune_seeds`` first, as :func:`evaluate` does, so a
    single episode shows the same planner as the tables.

    Raises:
        ValueError: ``seed`` is one of the tuning seeds of a baseline with knobs.
    """
    agent = make_policy(spec, problem, action_space, seed=seed, device=device)
    if getattr(agent, "tuning", None):
        if seed in set(int(s) for s in tune_seeds):
            raise ValueError(f"--seed {seed}: {spec} is tuned on seeds {min(tune_seeds)}..{max(tune_seeds)}; play "
                             f"a held-out seed above {max(tune_seeds)}")
        say = log or (lambda line: print(line, file=sys.stderr, flush=True))
        tune(agent, env_id, list(tune_seeds), spec, kwargs, device, say, None)
    return agent


def tune(agent: Any, env_id: str, seeds: list[int], label: str, kwargs: dict[str, Any], device: str,
          log: Callable[[str], None] | None, tuned: dict[str, Any] | None) -> None:
    """Set the agent's knobs (``agent.tuning``: name -> grid, :mod:`mel_gym.agents.planners`) to the setting of the
    grids' product with the best mean return on ``seeds`` (training seeds)."""
    settings = grid_settings(agent.tuning)
    with progress.task(f"tune {label}: {len(settings)} settings x {len(seeds)} training seeds",
                       len(settings) * len(seeds) * episode_horizon(env_id, kwargs), "episode-cycles"):
        runs = play_settings(lambda problem, space: agent, settings, env_id, seeds, label, kwargs, device)
    scores = [{**setting, "mean_return": sum(r.episode_return for r in episodes) / len(episodes)}
              for setting, episodes in zip(settings, runs)]
    best = max(scores, key=lambda row: row["mean_return"])
    setting = {name: best[name] for name in agent.tuning}
    agent.set_knobs(setting)
    if log:
        log(f"[evaluate] {label}: {', '.join(f'{k} {v:g}' for k, v in setting.items())} (best mean return "
            f"{best['mean_return']:.3f} of {len(scores)} settings on training seeds {seeds[0]}..{seeds[-1]})")
    if tuned is not None:
        tuned[label] = {**setting, "scores": scores}


def write_outputs(results: list[EpisodeResult], json_path: str | Path | None = None, csv_path: str | Path | None = None,
                  plot_path: str | Path | None = None, title: str = "", extra: dict[str, Any] | None = None) -> None:
    """Write whichever of JSON, CSV and the accuracy plot were asked for."""
    if json_path:
        write_json(json_path, results, extra)
    if csv_path:
        write_csv(csv_path, results)
    if plot_path:
        plot_curves(plot_path, accuracy_curves(results), title=title)


__all__ = ["episode_policy", "evaluate", "summarize", "tune", "write_outputs"]
