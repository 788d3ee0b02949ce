"""``mel-gym headroom``: how much room a state-dependent policy has above the causal baselines (the bound test).

Before a learned policy's win (or loss) means anything, the table shows on the same held-out seeds:

1. every **causal** baseline of the run config, including the tuned-constant planners (knobs tuned on training
   seeds only, :func:`mel_gym.experiments.evaluate.evaluate`);
2. **per-episode hindsight** (non-causal): for each planner of the config's ``headroom.planners``, every setting of
   its knob grids (and its tuned setting) is played on every held-out seed and each episode keeps its best
   setting, chosen after seeing it: never below the tuned-constant planner;
3. the **oracle** (non-causal): the planner, tuned on training seeds, in the same world told what no causal policy
   knows (``headroom.oracle``, env keyword arguments): the ``clairvoyant`` predictor's coming link failures and CPU
   drops (read by a risk ``threshold`` knob), or the drift times (``drift: {reveal: true}``, read by
   ``full_effort_cycles``); worlds whose observation already holds the cycle's channel and CPUs have no oracle row
   and say so;
4. where the config asks for it (``headroom.schedules``), the **open-loop hindsight** plan (non-causal): the
   planner's fraction following a two-phase schedule (f_early before cycle c, f_late from it on, the other knobs at
   their tuned values; the constant schedules, the tuned fraction's among them, included), each episode keeping its
   best schedule.

Headroom = best bound - best causal baseline, in return (with the paired standard error over seeds), loss part and
cycles to the target. Bound rows are labelled ``bound: ...``: they are never baselines. ``mel-gym run`` adds the same
rows to its table and reports a learned agent as the share of the headroom it closes.

The config's section (``configs/run/*.yaml``)::

    headroom:
      planners: [ha-sync-fraction]                     # baselines with knob grids (mel_gym.agents.registry)
      oracle: {prediction: {predictor: clairvoyant}}   # or null: no oracle row
      schedules: {fractions: [0.2, 0.4, 0.7, 1.0], switch_cycles: [4, 12]}   # or null
      no_oracle: "..."    # with oracle null: why there is no oracle row (default: the observation holds the cycle)
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from mel_gym.agents.planners import grid_settings
from mel_gym.agents.registry import BASELINES, make_policy
from mel_gym.experiments.common import check_output_dir, env_kwargs_with, make_env
from mel_gym.experiments import progress
from mel_gym.experiments.episodes import (EpisodeResult, episode_horizon, format_table, json_safe, play, play_settings,
                                          summarize)
from mel_gym.experiments.evaluate import evaluate, tune
from mel_gym.schema import ConfigError

#: The knobs that read what an oracle world reveals: a planner without any of them plans the same when told.
ORACLE_KNOBS = {"threshold": "the predicted link failures and CPU drops",
                "full_effort_cycles": "the cycles since the last drift (drift.reveal)"}
#: Prefix of the labels of non-causal rows.
BOUND = "bound: "
HEADROOM_KEYS = ("planners", "oracle", "schedules", "no_oracle")
#: Why a world has no oracle row, unless its config says otherwise (``headroom.no_oracle``).
NO_ORACLE = ("in this world the observation already holds the coming cycle's channel and CPUs (perfect CSI, no CPU "
             "chain), so the oracle planner is the tuned planner")


def headroom_settings(cfg: dict[str, Any]) -> dict[str, Any]:
    """A run config's ``headroom`` section checked: planners (baselines with knob grids), oracle (env keyword
    arguments or None), schedules (None or fractions and switch cycles)."""
    section = dict(cfg.get("headroom") or {})
    unknown = sorted(set(section) - set(HEADROOM_KEYS))
    if unknown:
        raise ConfigError(f"unknown run config key 'headroom.{unknown[0]}'; allowed keys: {list(HEADROOM_KEYS)}")
    planners = list(section.get("planners") or [])
    for name in planners:
        if name not in BASELINES or not BASELINES[name].knobs:
            tunable = [n for n, b in BASELINES.items() if b.knobs]
            raise ConfigError(f"run config key 'headroom.planners': {name!r} is not a baseline with knobs; choose from "
                              f"{tunable}")
    schedules = section.get("schedules")
    if schedules is not None:
        if set(schedules) != {"fractions", "switch_cycles"}:
            raise ConfigError("run config key 'headroom.schedules' must be null or have exactly the keys 'fractions' "
                              "and 'switch_cycles'")
        if not all(0 < float(f) <= 1 for f in schedules["fractions"]) or not all(
                int(c) >= 1 for c in schedules["switch_cycles"]):
            raise ConfigError("run config key 'headroom.schedules': fractions must lie in (0, 1] and switch_cycles "
                              "be integers >= 1")
    no_oracle = section.get("no_oracle", NO_ORACLE)
    if not isinstance(no_oracle, str):
        raise ConfigError(f"run config key 'headroom.no_oracle' = {no_oracle!r} must be a sentence: why the world has "
                          "no oracle row")
    return {"planners": planners, "oracle": section.get("oracle"), "schedules": schedules, "no_oracle": no_oracle}


def _small(grids: dict[str, tuple[float, ...]]) -> dict[str, tuple[float, ...]]:
    """At most three values of each grid (its ends and middle): the grids of a quick run."""
    return {name: tuple(sorted({grid[0], grid[len(grid) // 2], grid[-1]})) for name, grid in grids.items()}


def per_episode_best(runs: Sequence[tuple[Any, list[EpisodeResult]]], label: str
                     ) -> tuple[list[EpisodeResult], list[Any]]:
    """Each episode's best run by return: ``runs`` holds (setting, results on the same seeds in the same order);
    returns the chosen episodes relabelled ``label`` and the setting each episode chose."""
    chosen, settings = [], []
    for i in range(len(runs[0][1])):
        setting, results = max(runs, key=lambda run: run[1][i].episode_return)
        chosen.append(dataclasses.replace(results[i], policy=label))
        settings.append(setting)
    return chosen, settings


class ScheduledFraction:
    """An open-loop plan: a planner whose fraction is ``early`` before cycle ``switch`` and ``late`` from it on (the
    cycle read from the observation), its other knobs as they are."""

    def __init__(self, policy: Any, early: float, late: float, switch: int):
        self.policy, self.early, self.late, self.switch = policy, early, late, switch

    def predict(self, observation: np.ndarray, state: Any = None, episode_start: Any = None,
                deterministic: bool = True) -> tuple[np.ndarray, Any]:
        obs = np.asarray(observation)
        rows = []
        for row in obs.reshape(-1, obs.shape[-1]):
            decoded = self.policy.problem.decode(row)
            cycle = float(getattr(decoded, "world", decoded).cycle)  # MultiJob-v0: the world part of its observation
            self.policy.set_knobs({"fraction": self.early if cycle < self.switch else self.late})
            rows.append(self.policy.act(row))
        actions = np.stack(rows)
        return (actions[0] if obs.ndim == 1 else actions), state


def bound_results(settings: dict[str, Any], env_id: str, kwargs: dict[str, Any], seeds: list[int],
                  tune_seeds: list[int], device: str = "cpu", tuned: dict[str, Any] | None = None, quick: bool = False,
                  log: Callable[[str], None] | None = None) -> tuple[list[EpisodeResult], dict[str, Any]]:
    """The non-causal rows (hindsight, oracle, open-loop schedules) of the config's planners on ``seeds``; ``tuned``
    holds the planners' tuned knobs (label -> setting, as :func:`evaluate` records them; tuned here if missing).
    Returns (episodes labelled ``bound: ...``, a record of the choices and notes)."""
    say = log or (lambda line: None)
    results: list[EpisodeResult] = []
    record: dict[str, Any] = {"notes": []}
    tuned = {} if tuned is None else tuned
    for name in settings["planners"]:
        grids = dict(BASELINES[name].knobs)
        grids = _small(grids) if quick else grids
        if name not in tuned:  # tuned on the training seeds, as evaluate does
            env = make_env(env_id, None, kwargs).unwrapped
            tune(make_policy(name, env.problem, env.action_space), env_id, list(tune_seeds), name, kwargs, device, log,
                 tuned)
            env.close()
        best = {k: v for k, v in tuned[name].items() if k != "scores"}
        started = time.perf_counter()
        candidates = grid_settings(grids)
        candidates += [best] if best not in candidates else []  # the tuned constant is one of the choices
        with progress.task(f"hindsight bound of {name}: {len(candidates)} settings x {len(seeds)} episodes",
                           len(candidates) * len(seeds) * episode_horizon(env_id, kwargs), "episode-cycles"):
            runs = list(zip(candidates, play_settings(lambda problem, space: make_policy(name, problem, space),
                                                      candidates, env_id, seeds, name, kwargs, device)))
        chosen, picks = per_episode_best(runs, f"{BOUND}hindsight {name}")
        results += chosen
        record[f"hindsight {name}"] = {"settings": len(runs), "chosen": picks}
        say(f"[headroom] hindsight {name}: {len(runs)} settings x {len(seeds)} episodes in "
            f"{time.perf_counter() - started:.0f} s")
        if settings["schedules"] is not None and "fraction" in grids:
            results += _schedules(name, best, settings["schedules"], env_id, kwargs, seeds, device, quick, record, say)
        if settings["oracle"] is not None and not set(grids) & set(ORACLE_KNOBS):
            record["notes"].append(f"no oracle row for {name}: it has no knob that reads what the oracle reveals "
                                   f"({', '.join(f'{k}: {v}' for k, v in ORACLE_KNOBS.items())}), so told it, it "
                                   "would plan the same")
        elif settings["oracle"] is not None:
            oracle_kwargs = _merged(kwargs, settings["oracle"])
            oracle_tuned: dict[str, Any] = {}
            label = f"{BOUND}oracle {name}"
            oracle = evaluate([name], env_id, episodes=len(seeds), seed=seeds[0], env_kwargs=oracle_kwargs,
                              device=device, labels=[label], tuned=oracle_tuned, tune_seeds=tune_seeds, log=log)
            results += oracle
            record[f"oracle {name}"] = {k: v for k, v in oracle_tuned[label].items() if k != "scores"}
    if settings["oracle"] is None:
        record["notes"].append(f"no oracle row: {settings.get('no_oracle', NO_ORACLE)}")
    return results, record


def _schedules(name: str, best: dict[str, float], schedules: dict[str, Any], env_id: str, kwargs: dict[str, Any],
               seeds: list[int], device: str, quick: bool, record: dict[str, Any],
               say: Callable[[str], None]) -> list[EpisodeResult]:
    """The open-loop hindsight rows: every two-phase fraction schedule, per episode its best."""
    fractions = [float(f) for f in schedules["fractions"]]
    switches = [int(c) for c in schedules["switch_cycles"]]
    if quick:
        fractions, switches = fractions[:: max(len(fractions) - 1, 1)], switches[:1]
    fractions = sorted(set(fractions) | {float(best["fraction"])})  # the tuned constant is one of the plans
    started = time.perf_counter()
    plans = [(early, late, switch) for early in fractions for late in fractions
             for switch in (switches if early != late else switches[:1])]
    runs = []
    with progress.task(f"open-loop bound of {name}: {len(plans)} schedules x {len(seeds)} episodes",
                       len(plans) * len(seeds) * episode_horizon(env_id, kwargs), "episode-cycles"):
        for early, late, switch in plans:
            def agent(problem: Any, space: Any, early: float = early, late: float = late, switch: int = switch) -> Any:
                policy = make_policy(name, problem, space)
                policy.set_knobs(best)
                return ScheduledFraction(policy, early, late, switch)
            runs.append(({"early": early, "late": late, "switch_cycle": switch},
                         play(agent, env_id, seeds, name, kwargs, device)))
    chosen, picks = per_episode_best(runs, f"{BOUND}open-loop hindsight {name}")
    record[f"open-loop hindsight {name}"] = {"schedules": len(runs), "chosen": picks, "other_knobs": best}
    say(f"[headroom] open-loop schedules of {name}: {len(runs)} x {len(seeds)} episodes in "
        f"{time.perf_counter() - started:.0f} s")
    return chosen


def _merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra`` merged in, nested sections key by key."""
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


# ---------------------------------------------------------------------------------------------------- the table


def _by_policy(results: Sequence[EpisodeResult]) -> dict[str, list[EpisodeResult]]:
    out: dict[str, list[EpisodeResult]] = {}
    for r in results:
        out.setdefault(r.policy, []).append(r)
    return out


def paired(a: Sequence[EpisodeResult], b: Sequence[EpisodeResult], key: str = "episode_return"
           ) -> tuple[float, float, int]:
    """(mean difference a - b over the seeds both played, its standard error, how many seeds)."""
    theirs = {r.seed: getattr(r, key) for r in b}
    diffs = np.array([getattr(r, key) - theirs[r.seed] for r in a if r.seed in theirs], dtype=np.float64)
    if diffs.size == 0:
        return math.nan, math.nan, 0
    se = float(diffs.std(ddof=1) / math.sqrt(diffs.size)) if diffs.size > 1 else math.nan
    return float(diffs.mean()), se, int(diffs.size)


def headroom_lines(results: Sequence[EpisodeResult], causal: Sequence[str],
                   learned: Sequence[str] = ()) -> tuple[list[str], dict[str, Any]]:
    """The headroom (best bound - best causal row) in return, loss part and cycles to the target, and where
    ``learned`` rows are given the share of the headroom each closes: (lines, numbers)."""
    groups = _by_policy(results)
    causal_rows = [n for n in causal if n in groups]
    bounds = [n for n in groups if n.startswith(BOUND)]
    if not causal_rows or not bounds:
        return [], {}
    mean = lambda name, key: float(np.mean([getattr(r, key) for r in groups[name]]))  # noqa: E731
    best_causal = max(causal_rows, key=lambda n: mean(n, "episode_return"))
    best_bound = max(bounds, key=lambda n: mean(n, "episode_return"))
    gap, se, n = paired(groups[best_bound], groups[best_causal])
    base = mean(best_causal, "episode_return")
    lql_causal = max(mean(name, "lql_return") for name in causal_rows)
    lql_bound = max(mean(name, "lql_return") for name in bounds)
    numbers: dict[str, Any] = {"best_causal": best_causal, "best_bound": best_bound, "return": gap, "return_se": se,
                               "return_relative": gap / abs(base) if base else math.nan, "seeds": n,
                               "loss_part": lql_bound - lql_causal}
    lines = [f"Headroom: best bound ({best_bound.removeprefix(BOUND)}) - best causal baseline ({best_causal}): return "
             f"{gap:+.3f} ({numbers['return_relative']:+.1%}; paired s.e. {se:.3f} over {n} seeds), loss part "
             f"{numbers['loss_part']:+.3f} (best bound row - best causal row)"]
    hits = {name: [r.cycles_to_target for r in groups[name] if r.cycles_to_target is not None] for name in groups}
    if hits[best_causal] and any(hits[b] for b in bounds):
        fastest = min((np.mean(hits[b]), b) for b in bounds if hits[b])
        numbers["cycles_to_target"] = float(fastest[0] - np.mean(hits[best_causal]))
        lines[0] += (f", cycles to the target {numbers['cycles_to_target']:+.1f} ({fastest[1].removeprefix(BOUND)} "
                     f"{fastest[0]:.1f}, reached {len(hits[fastest[1]])}/{len(groups[fastest[1]])}, vs "
                     f"{np.mean(hits[best_causal]):.1f}, {len(hits[best_causal])}/{len(groups[best_causal])})")
    clear = not math.isnan(se) and gap > 2 * se
    spread = float(np.std([r.episode_return for r in groups[best_causal]]))
    numbers["return_spread"] = spread
    if not clear:
        lines.append("The headroom is within two paired standard errors of zero: on these seeds no policy can be shown "
                     "to beat the tuned planner here.")
    elif gap < spread:
        lines.append(f"The headroom is real but smaller than the seed-to-seed spread of the return (std {spread:.3f} "
                     f"over the episodes of {best_causal}): no policy can beat the tuned planner here by more than "
                     f"{gap:.3f} ({numbers['return_relative']:.1%}).")
    for name in learned:
        if name not in groups:
            continue
        own, own_se, _ = paired(groups[name], groups[best_causal])
        share = own / gap if gap > 0 else math.nan
        numbers.setdefault("learned", {})[name] = {"vs_best_causal": own, "se": own_se, "share_of_headroom": share}
        if own <= 0:
            verdict = "below the best causal baseline: none of the headroom closed"
        elif not clear:
            verdict = "no clear headroom to close"
        else:
            verdict = f"{share:.0%} of the headroom closed"
        lines.append(f"{name} vs the best causal baseline ({best_causal}): return {own:+.3f} (paired s.e. "
                     f"{own_se:.3f}), {verdict}")
    return lines, numbers


def format_headroom_table(rows: Sequence[dict[str, Any]], target: float | None, metric: str = "loss") -> str:
    """The table of :func:`summarize` rows with the bound rows last, and a note that they are non-causal."""
    bound = [r["policy"].startswith(BOUND) for r in rows]
    ordered = [r for r, b in zip(rows, bound) if not b] + [r for r, b in zip(rows, bound) if b]
    return (format_table(ordered, target, metric) + "\n\nRows labelled 'bound:' are non-causal (they see the episode "
            "or the cycle's realised draws before deciding): bounds on what any policy could reach, never baselines.")


def headroom(config: str | Path = "default", quick: bool = False, out_dir: str | Path | None = None,
             device: str = "cpu", log: Callable[[str], None] | None = print) -> dict[str, Any]:
    """Run the bound test of a run config (module docstring); print the table and write ``headroom.json``,
    ``headroom.csv`` (one row per policy and episode, with its kind) and ``table.md`` into ``out_dir`` (default
    ``runs/headroom-<config>``)."""
    from mel_gym.experiments.run import load_run_config

    cfg = load_run_config(config)
    settings = headroom_settings(cfg)
    if not settings["planners"]:
        raise ConfigError(f"run config {config!r} has no 'headroom.planners': nothing to bound")
    evaluation = dict(cfg.get("evaluation") or {})
    episodes = int(evaluation.get("episodes", 10))
    tune_episodes = int(evaluation.get("tune_episodes", 8))
    if quick:
        episodes, tune_episodes = int((cfg.get("quick") or {}).get("episodes", 2)), 2
    out = Path(out_dir or f"runs/headroom-{Path(str(config)).stem}")
    check_output_dir(out, "--out")
    env_id = cfg.get("env_id", "mel_gym/TaskAllocation-v0")
    kwargs = env_kwargs_with(cfg.get("scenario", "default"), dict(cfg.get("env_kwargs") or {}))
    env = make_env(env_id, env_kwargs=kwargs).unwrapped  # checks the settings before any long work
    target, metric = env.scenario.target_accuracy, env.params.reward.metric
    env.close()
    baselines = list(evaluation.get("baselines", ["ha-sync"]))
    baselines += [name for name in settings["planners"] if name not in baselines]
    seeds = list(range(int(evaluation.get("seed", 10_000)), int(evaluation.get("seed", 10_000)) + episodes))
    tuned: dict[str, Any] = {}
    started = time.perf_counter()
    with progress.task(f"mel-gym headroom {config} -> {out}", unit=None):
        causal = evaluate(baselines, env_id, episodes=episodes, seed=seeds[0], env_kwargs=kwargs, device=device,
                          tuned=tuned, tune_seeds=range(tune_episodes), log=log)
        bounds, record = bound_results(settings, env_id, kwargs, seeds, list(range(tune_episodes)), device, tuned,
                                       quick, log)
    results = causal + bounds
    lines, numbers = headroom_lines(results, baselines)
    table = "\n\n".join([format_headroom_table(summarize(results), target, metric), *lines, *record["notes"]])
    out.mkdir(parents=True, exist_ok=True)
    (out / "table.md").write_text(table + "\n")
    payload = {"config": str(config), "env_id": env_id, "env_kwargs": kwargs, "seeds": seeds,
               "tune_seeds": list(range(tune_episodes)), "summary": summarize(results), "headroom": numbers,
               "tuned": tuned, "bounds": record, "results": [r.row() for r in results],
               "seconds": round(time.perf_counter() - started, 1)}
    (out / "headroom.json").write_text(json.dumps(json_safe(payload), indent=1, allow_nan=False))
    with open(out / "headroom.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["policy", "kind", "seed", "return", "lql_return", "final_accuracy", "cycles_to_target",
                         "mean_tau"])
        for r in results:
            writer.writerow([r.policy, "bound" if r.policy.startswith(BOUND) else "causal", r.seed, r.episode_return,
                             r.lql_return, r.final_accuracy, "" if r.cycles_to_target is None else r.cycles_to_target,
                             r.mean_tau])
    print(table)
    print(f"[mel-gym headroom] {time.perf_counter() - started:.0f} s; wrote {out / 'table.md'}, "
          f"{out / 'headroom.json'}, {out / 'headroom.csv'}", flush=True)
    return {"results": results, "headroom": numbers, "out_dir": out, "table": table}


__all__ = ["bound_results", "headroom", "headroom_lines", "headroom_settings", "per_episode_best"]
