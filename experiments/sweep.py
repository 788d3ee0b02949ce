"""``mel-gym sweep CONFIG``: many training runs at once on Ray Tune, collected into one table.

A sweep config (``configs/sweeps/<name>.yaml`` or a YAML path) names the grid: ``envs`` x ``scenarios`` x
``agents`` (configs/agents presets or paths) x ``seeds`` (training seeds); ``hyperparams`` overrides the agents'
hyperparameters, each value fixed, a list (a grid axis) or a distribution that Ray Tune samples
(``{loguniform: [low, high]}``, ``{uniform: [low, high]}``, ``{randint: [low, high]}``, ``{choice: [a, b, ...]}``),
and ``num_samples`` repeats the grid with fresh draws (random search). Every trial trains its agent
(:func:`mel_gym.experiments.train.train`, torch on one thread) and evaluates it and the baselines on the same seeds
(:func:`mel_gym.experiments.evaluate.evaluate`; by default every baseline that fits the env), then hands its
folder (the agent, ``results.json``, ``results.csv``) to Tune as the trial's checkpoint.

The driver collects the trials: per env and scenario one results file (the agents' rows of every trial, the
baselines' rows of the first, checked equal in all), :func:`mel_gym.experiments.compare.compare` on it (95%
bootstrap intervals, training seeds pooled, paired differences against the best baseline) and one table over all of
them, written as ``sweep.md``, ``sweep.csv`` and ``sweep.json`` into ``out_dir`` (and a folder per env and scenario
with compare's files and figures).

Ray is local by default (``ray.init(num_cpus=...)``); ``address`` (or ``--address``, or ``RAY_ADDRESS``) joins a
cluster, whose trials then need ``storage`` on storage every node reaches (a shared folder or a URI such as
``s3://bucket/path``). Needs ``pip install 'mel_gym[ray]'``.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any, Callable, Mapping

from mel_gym.params import ConfigError, deep_merge, read_yaml
from mel_gym.paths import configs_dir

SWEEP_KEYS = ("envs", "scenarios", "agents", "seeds", "hyperparams", "num_samples", "timesteps", "n_envs",
              "env_kwargs", "evaluation", "trial_cpus", "num_cpus", "max_concurrent_trials", "out_dir", "storage",
              "address", "quick")
EVALUATION_KEYS = ("episodes", "seed", "tune_episodes", "baselines")
#: Ray Tune's sampling functions a hyperparameter may name: ``{name: [arguments]}``.
DISTRIBUTIONS = ("uniform", "loguniform", "randint", "choice")
_POOLED = re.compile(r" \(\d+ training seeds\)$")
RAY_MISSING = "mel-gym sweep runs on Ray Tune, which is not installed here: pip install 'mel_gym[ray]'"


def load_sweep_config(name_or_path: str | Path) -> dict[str, Any]:
    """Read and check a sweep config (preset name under configs/sweeps or a YAML path); returns it with defaults.
    Errors are :class:`ConfigError` naming the key and what it allows."""
    preset = configs_dir() / "sweeps" / f"{name_or_path}.yaml"
    raw = read_yaml(preset if preset.is_file() else Path(name_or_path))
    unknown = sorted(set(raw) - set(SWEEP_KEYS))
    if unknown:
        raise ConfigError(f"unknown sweep config key '{unknown[0]}'; allowed keys: {list(SWEEP_KEYS)}")
    cfg: dict[str, Any] = {
        "envs": _names(raw, "envs", ["mel_gym/TaskAllocation-v0"]),
        "scenarios": _names(raw, "scenarios", ["default"]),
        "agents": _names(raw, "agents", ["ppo"]),
        "seeds": raw.get("seeds", [0]),
        "hyperparams": raw.get("hyperparams") or {},
        "num_samples": raw.get("num_samples", 1),
        "timesteps": raw.get("timesteps"),
        "n_envs": raw.get("n_envs"),
        "env_kwargs": raw.get("env_kwargs") or {},
        "evaluation": dict(raw.get("evaluation") or {}),
        "trial_cpus": raw.get("trial_cpus", 1),
        "num_cpus": raw.get("num_cpus"),
        "max_concurrent_trials": raw.get("max_concurrent_trials"),
        "out_dir": str(raw.get("out_dir", "runs/sweep")),
        "storage": raw.get("storage"),
        "address": raw.get("address"),
        "quick": dict(raw.get("quick") or {}),
    }
    if not isinstance(cfg["seeds"], list) or not cfg["seeds"] or not all(_is_int(s) for s in cfg["seeds"]):
        raise ConfigError(f"sweep config key 'seeds' = {cfg['seeds']!r} must be a non-empty list of integers")
    for key, low in (("num_samples", 1), ("timesteps", 1), ("n_envs", 1), ("trial_cpus", 1), ("num_cpus", 1),
                     ("max_concurrent_trials", 1)):
        value = cfg[key]
        if value is not None and (not _is_int(value) or value < low):
            raise ConfigError(f"sweep config key '{key}' = {value!r} must be an integer >= {low}")
    bad = sorted(set(cfg["evaluation"]) - set(EVALUATION_KEYS))
    if bad:
        raise ConfigError(f"unknown sweep config key 'evaluation.{bad[0]}'; allowed: {list(EVALUATION_KEYS)}")
    for key, low in (("episodes", 1), ("seed", 0), ("tune_episodes", 1)):
        value = cfg["evaluation"].get(key)
        if value is not None and (not _is_int(value) or value < low):
            raise ConfigError(f"sweep config key 'evaluation.{key}' = {value!r} must be an integer >= {low}")
    if not isinstance(cfg["hyperparams"], Mapping):
        raise ConfigError("sweep config key 'hyperparams' must be a mapping of hyperparameter -> value, list or "
                          f"distribution, got {cfg['hyperparams']!r}")
    _check_space(cfg["hyperparams"], "hyperparams")
    if cfg["num_samples"] > 1 and not any(_is_distribution(v) for v in _flat_space(cfg["hyperparams"])):
        raise ConfigError(f"sweep config key 'num_samples' = {cfg['num_samples']}: repeats the grid with fresh draws of "
                          "the hyperparams' distributions, and there is none (the repeats would be the same trials)")
    _check_grid(cfg)
    cfg["baselines"] = _baselines(cfg)
    return cfg


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _names(raw: Mapping[str, Any], key: str, default: list[str]) -> list[str]:
    value = raw.get(key, default)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"sweep config key '{key}' = {value!r} must be a non-empty list of names")
    return value


def _is_distribution(value: Any) -> bool:
    return isinstance(value, Mapping) and len(value) == 1 and next(iter(value)) in DISTRIBUTIONS


def _check_space(space: Mapping[str, Any], where: str) -> None:
    """Every distribution names one of :data:`DISTRIBUTIONS` with a list of arguments of the right shape."""
    for key, value in space.items():
        if _is_distribution(value):
            (kind, args), = value.items()
            if not isinstance(args, list) or not args or (kind != "choice" and (
                    len(args) != 2 or not all(isinstance(a, (int, float)) for a in args) or not args[0] < args[1])):
                raise ConfigError(f"sweep config key '{where}.{key}.{kind}' = {args!r}: "
                                  + ("a non-empty list of values" if kind == "choice" else "[low, high] with low < high"))
            if kind == "loguniform" and args[0] <= 0:
                raise ConfigError(f"sweep config key '{where}.{key}.loguniform' = {args!r}: low must be > 0")
        elif isinstance(value, list) and not value:
            raise ConfigError(f"sweep config key '{where}.{key}' is an empty list (a grid axis needs values)")
        elif isinstance(value, Mapping):
            _check_space(value, f"{where}.{key}")


def _flat_space(space: Mapping[str, Any]) -> list[Any]:
    """The leaves of a hyperparameter space (a distribution is a leaf)."""
    out = []
    for value in space.values():
        out += _flat_space(value) if isinstance(value, Mapping) and not _is_distribution(value) else [value]
    return out


def _check_grid(cfg: dict[str, Any]) -> None:
    """Every env ID and scenario builds, and every agent takes the hyperparameters (one value of each)."""
    from mel_gym.experiments.common import check_env_id, make_env

    for env_id, scenario in itertools.product(cfg["envs"], cfg["scenarios"]):
        try:
            check_env_id(env_id)
            make_env(env_id, scenario, cfg["env_kwargs"]).close()
        except (ValueError, ConfigError) as err:
            raise ConfigError(f"sweep config: env {env_id!r} with scenario {scenario!r}: {err}") from err
    example = _first_values(cfg["hyperparams"])
    for agent in cfg["agents"]:
        try:
            agent_config(agent, example)
        except ConfigError as err:
            raise ConfigError(f"sweep config: agent {agent!r} with the sweep's hyperparams: {err}") from err


def _first_values(space: Mapping[str, Any]) -> dict[str, Any]:
    """One point of the space (for checking names): lists and distributions give their first value."""
    out = {}
    for key, value in space.items():
        if _is_distribution(value):
            out[key] = next(iter(value.values()))[0]
        elif isinstance(value, list):
            out[key] = value[0]
        elif isinstance(value, Mapping):
            out[key] = _first_values(value)
        else:
            out[key] = value
    return out


def agent_config(agent: str, hyperparams: Mapping[str, Any]) -> dict[str, Any]:
    """The agent config ``agent`` (preset or path) with ``hyperparams`` merged into its ``hyperparams``, checked."""
    from mel_gym.agents.sb3 import agent_config_path, load_agent_config

    raw = read_yaml(agent_config_path(agent))
    raw["hyperparams"] = deep_merge(dict(raw.get("hyperparams") or {}), dict(hyperparams))
    load_agent_config(raw)
    return raw


def grid(cfg: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The trials' fixed part: one dict per env x scenario x agent x seed, in that order."""
    return [{"env_id": e, "scenario": s, "agent": a, "seed": int(seed)}
            for e, s, a, seed in itertools.product(cfg["envs"], cfg["scenarios"], cfg["agents"], cfg["seeds"])]


def _flat(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def trial_label(agent: str, hyperparams: Mapping[str, Any], varied: set[str], seed: int) -> str:
    """``ppo-seed0``; with hyperparameters that vary between trials ``ppo[learning_rate=0.00031]-seed0`` (the
    ``-seedN`` suffix is what ``compare`` pools training seeds by)."""
    flat = _flat(hyperparams)
    tag = ",".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in flat.items() if k in varied)
    return f"{agent}[{tag}]-seed{seed}" if tag else f"{agent}-seed{seed}"


def varied_keys(space: Mapping[str, Any]) -> set[str]:
    """The dotted hyperparameter names that are a grid axis or a distribution."""
    out = set()
    for key, value in space.items():
        if _is_distribution(value) or isinstance(value, list):
            out.add(key)
        elif isinstance(value, Mapping):
            out |= {f"{key}.{k}" for k in varied_keys(value)}
    return out


def run_trial(config: dict[str, Any]) -> None:
    """One Tune trial: train the agent, evaluate it and the baselines, report the agent's mean return and hand the
    folder to Tune as the trial's checkpoint. ``config``: {"trial": a :func:`grid` row, "hyperparams": the
    resolved values, "settings": the sweep's settings}."""
    import tempfile

    import torch
    from ray import tune

    from mel_gym.experiments.evaluate import evaluate, write_outputs
    from mel_gym.experiments.train import train

    torch.set_num_threads(1)
    trial, hyper, settings = config["trial"], config.get("hyperparams") or {}, config["settings"]
    evaluation = settings["evaluation"]
    label = trial_label(trial["agent"], hyper, set(settings["varied"]), trial["seed"])
    work = Path(tempfile.mkdtemp(prefix="mel_gym_trial_"))
    trained = train(trial["env_id"], agent=agent_config(trial["agent"], hyper), scenario=trial["scenario"],
                    env_kwargs=settings["env_kwargs"], timesteps=settings["timesteps"], n_envs=settings["n_envs"],
                    seed=trial["seed"], runs_dir=work, name="agent", progress_bar=False, checkpoint_every=0)
    tuned: dict[str, Any] = {}
    baselines = list(evaluation["baselines"][group_key(trial["env_id"], trial["scenario"])])
    started = time.perf_counter()
    results = evaluate([str(trained.model_path)] + baselines, trial["env_id"], episodes=evaluation["episodes"],
                       seed=evaluation["seed"], scenario=trial["scenario"], env_kwargs=settings["env_kwargs"],
                       labels=[label] + baselines, tuned=tuned, tune_seeds=range(evaluation["tune_episodes"]))
    eval_seconds = round(time.perf_counter() - started, 1)
    write_outputs(results, work / "results.json", work / "results.csv",
                  extra={"trial": trial, "hyperparams": hyper, "label": label, "tuned": tuned,
                         "train_seconds": round(trained.seconds, 1), "eval_seconds": eval_seconds,
                         "timesteps": trained.timesteps})
    mine = [r.episode_return for r in results if r.policy == label]
    by_baseline = {b: sum(r.episode_return for r in results if r.policy == b) / evaluation["episodes"]
                   for b in baselines if b != "random"}
    best = max(by_baseline, key=by_baseline.get) if by_baseline else None
    tune.report({"return": sum(mine) / len(mine), "label": label, "best_baseline": best,
                 "best_baseline_return": by_baseline.get(best), "train_seconds": round(trained.seconds, 1),
                 "eval_seconds": eval_seconds}, checkpoint=tune.Checkpoint.from_directory(str(work)))
    shutil.rmtree(work, ignore_errors=True)


def group_key(env_id: str, scenario: str) -> str:
    """How the table names an env and scenario: ``mel_gym/TaskAllocation-v0 / default``."""
    return f"{env_id} / {scenario}"


def _baselines(cfg: Mapping[str, Any]) -> dict[str, list[str]]:
    """:func:`group_key` -> the baselines its trials evaluate: the config's list, or every baseline that fits."""
    from mel_gym.agents.policy import policies_for
    from mel_gym.experiments.common import make_env

    chosen = cfg["evaluation"].get("baselines")
    out = {}
    for env_id, scenario in itertools.product(cfg["envs"], cfg["scenarios"]):
        env = make_env(env_id, scenario, cfg["env_kwargs"]).unwrapped
        fits = policies_for(env.problem)
        env.close()
        if chosen is not None:
            bad = [b for b in chosen if b not in fits]
            if bad:
                raise ConfigError(f"sweep config key 'evaluation.baselines': {bad[0]!r} does not fit {env_id} with "
                                  f"scenario {scenario!r}; its baselines: {fits}")
        out[group_key(env_id, scenario)] = fits if chosen is None else list(chosen)
    return out


def _param_space(cfg: Mapping[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    from ray import tune

    def convert(space: Mapping[str, Any]) -> dict[str, Any]:
        out = {}
        for key, value in space.items():
            if _is_distribution(value):
                (kind, args), = value.items()
                out[key] = tune.choice(args) if kind == "choice" else getattr(tune, kind)(*args)
            elif isinstance(value, list):
                out[key] = tune.grid_search(value)
            elif isinstance(value, Mapping):
                out[key] = convert(value)
            else:
                out[key] = value
        return out

    return {"trial": tune.grid_search(grid(cfg)), "hyperparams": convert(cfg["hyperparams"]), "settings": settings}


def sweep(config: str | Path, out_dir: str | Path | None = None, address: str | None = None,
          num_cpus: int | None = None, quick: bool = False, overwrite: bool = False,
          log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the sweep of ``config`` on Ray Tune and write the table (see the module docstring); returns
    {"table": the printed text, "groups": {"<env ID> / <scenario>": compare's result}, "trials": [...],
    "out_dir": Path}."""
    cfg = load_sweep_config(config)
    if num_cpus is not None and num_cpus < 1:
        raise ValueError(f"--num-cpus {num_cpus}: must be >= 1")
    try:
        import ray
        import ray.tune  # noqa: F401 - the sweep needs Tune too
    except ImportError as err:
        raise ModuleNotFoundError(RAY_MISSING) from err
    from mel_gym.experiments.common import check_output_dir

    out = Path(out_dir or cfg["out_dir"]).resolve()
    if out.exists() and not overwrite:
        raise ValueError(f"output folder {out} exists: pass --overwrite to replace it, or --out another folder")
    check_output_dir(out, "--out")
    evaluation = cfg["evaluation"]
    timesteps, episodes = cfg["timesteps"], int(evaluation.get("episodes", 10))
    if quick:
        timesteps, episodes = cfg["quick"].get("timesteps", 512), cfg["quick"].get("episodes", 2)
    settings = {"env_kwargs": cfg["env_kwargs"], "timesteps": timesteps, "n_envs": cfg["n_envs"],
                "varied": sorted(varied_keys(cfg["hyperparams"])),
                "evaluation": {"episodes": episodes, "seed": int(evaluation.get("seed", 10_000)),
                               "tune_episodes": int(evaluation.get("tune_episodes", 8)),
                               "baselines": cfg["baselines"]}}
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    address = address or cfg["address"] or os.environ.get("RAY_ADDRESS")
    started = not ray.is_initialized()  # a Ray the caller started is left running
    if started:
        ray.init(address=address, num_cpus=None if address else (num_cpus or cfg["num_cpus"]),
                 include_dashboard=False, configure_logging=False)
    try:
        return _fit(cfg, settings, out, timesteps, episodes, log)
    finally:
        if started:
            ray.shutdown()


def _fit(cfg: dict[str, Any], settings: dict[str, Any], out: Path, timesteps: int | None, episodes: int,
         log: Callable[[str], None]) -> dict[str, Any]:
    import ray
    from ray import tune

    n_trials = len(grid(cfg)) * _grid_size(cfg["hyperparams"]) * cfg["num_samples"]
    steps = timesteps or "the agent configs'"
    log(f"[mel-gym sweep] {n_trials} trials on Ray ({ray.cluster_resources().get('CPU', 0):g} CPUs), "
        f"{steps} training steps each, {episodes} evaluation episodes from seed "
        f"{settings['evaluation']['seed']}; writing {out}")
    storage = cfg["storage"] or str(out / "ray")
    tuner = tune.Tuner(
        tune.with_resources(run_trial, {"cpu": cfg["trial_cpus"]}),
        param_space=_param_space(cfg, settings),
        tune_config=tune.TuneConfig(num_samples=cfg["num_samples"], max_concurrent_trials=cfg["max_concurrent_trials"],
                                    trial_dirname_creator=lambda t: f"trial_{t.trial_id}"),
        run_config=tune.RunConfig(name="tune", storage_path=storage, verbose=1,
                                  failure_config=tune.FailureConfig(max_failures=0)),
    )
    grid_results = tuner.fit()
    return collect(grid_results, out, log)


def _grid_size(space: Mapping[str, Any]) -> int:
    size = 1
    for value in space.values():
        if isinstance(value, list):
            size *= len(value)
        elif isinstance(value, Mapping) and not _is_distribution(value):
            size *= _grid_size(value)
    return size


def collect(grid_results: Any, out: Path, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Gather the trials' results files (from their checkpoints) into one file per env and scenario, compare each
    and write the sweep's table."""
    from mel_gym.experiments.compare import compare

    trials, failed = [], []
    groups: dict[str, dict[str, Any]] = {}
    for result in grid_results:
        if result.error is not None or result.checkpoint is None:
            failed.append({"config": result.config.get("trial"), "error": str(result.error)})
            continue
        with result.checkpoint.as_directory() as folder:
            data = json.loads((Path(folder) / "results.json").read_text())
            trial = data["trial"]
            key = group_key(trial["env_id"], trial["scenario"])
            name = _safe(f"{data['label']}@{trial['env_id'].split('/')[-1]}@{trial['scenario']}")
            (out / "trials").mkdir(exist_ok=True)
            shutil.copytree(folder, out / "trials" / name, dirs_exist_ok=True)
        trials.append({"label": data["label"], **trial, "hyperparams": data["hyperparams"],
                       "return": result.metrics["return"], "train_seconds": data["train_seconds"],
                       "path": str(out / "trials" / name)})
        _merge(groups.setdefault(key, {"results": [], "accuracy_curves": {}, "cycle_curves": {}, "baselines": {},
                                       "baseline_rows": [], "agree": True}), data)
    compared = {}
    for key, merged in groups.items():
        folder = out / _safe(key.replace("mel_gym/", "").replace(" / ", "__"))
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "results.json").write_text(json.dumps({  # the agents' rows first, then the baselines'
            "results": merged["results"] + merged["baseline_rows"],
            "accuracy_curves": merged["accuracy_curves"], "cycle_curves": merged["cycle_curves"]}))
        compared[key] = compare([folder / "results.json"], folder)
        compared[key]["baselines_agree"] = merged["agree"]
    table = format_sweep_table(compared)
    if failed:
        table += f"\n\n{len(failed)} trial(s) failed: " + "; ".join(f"{f['config']}: {f['error']}" for f in failed)
    (out / "sweep.md").write_text(table + "\n")
    _write_csv(out / "sweep.csv", compared)
    (out / "sweep.json").write_text(json.dumps({"trials": trials, "failed": failed,
                                                "groups": {k: {kk: vv for kk, vv in v.items() if kk != "text"}
                                                           for k, v in compared.items()}}, indent=1))
    log(table)
    log(f"[mel-gym sweep] wrote {out / 'sweep.md'}, sweep.csv, sweep.json; per env and scenario compare's files and "
        f"figures; trials' agents and results under {out / 'trials'}")
    return {"table": table, "groups": compared, "trials": trials, "failed": failed, "out_dir": out}


def _safe(name: str) -> str:
    """A file name from a label (letters, digits and ``_.-=,[]@`` kept)."""
    return re.sub(r"[^A-Za-z0-9_.\-=,\[\]@]", "_", name)


def _merge(group: dict[str, Any], data: dict[str, Any]) -> None:
    """Add a trial's agent rows and curves to its group, and the baselines' the first time; a later trial's baseline
    returns must equal the first's (``group["agree"]``)."""
    for row in data["results"]:
        policy, seed, value = row["policy"], int(row["seed"]), float(row["return"])
        if policy == data["label"]:
            group["results"].append(row)
        elif (policy, seed) in group["baselines"]:
            group["agree"] &= abs(group["baselines"][policy, seed] - value) <= 1e-9
        else:
            group["baselines"][policy, seed] = value
            group["baseline_rows"].append(row)
    for kind in ("accuracy_curves", "cycle_curves"):
        for policy, episodes in data.get(kind, {}).items():
            group[kind].setdefault(policy, episodes)


def format_sweep_table(compared: Mapping[str, Mapping[str, Any]]) -> str:
    """One table over every env and scenario: each policy's mean return and final accuracy with their intervals,
    and its paired return difference against that group's best baseline."""
    from mel_gym.agents.policy import BASELINE_NAMES
    from mel_gym.experiments.compare import _interval

    level = next(iter(compared.values()))["level"] if compared else 0.95
    pct = f"{level:.0%}"
    lines = [f"| env / scenario | policy | episodes | return [{pct} CI] | final test acc. [{pct} CI] | "
             f"return - best baseline [{pct} CI] |", "|---|---|---|---|---|---|"]
    for key, result in compared.items():
        best = result["best_baseline"]
        order = lambda name: (name in BASELINE_NAMES, bool(_POOLED.search(name)))  # noqa: E731 - agents, pooled, baselines
        for name, row in sorted(result["policies"].items(), key=lambda item: order(item[0])):
            diff = result["differences"].get(name, {}).get("return")
            if name == best:
                cell = "(best baseline)"
            elif diff is None:
                cell = ""
            else:
                sign = " (better)" if diff["low"] > 0 else " (worse)" if diff["high"] < 0 else ""
                cell = _interval(diff) + sign
            lines.append(f"| {key} | {name} | {row['episodes']} | {_interval(row['return'])} | "
                         f"{_interval(row['final_accuracy'])} | {cell} |")
        if not result.get("baselines_agree", True):
            lines.append(f"| {key} | (the baselines' returns differed between trials: check determinism) | | | | |")
    return "\n".join(lines)


def _write_csv(path: Path, compared: Mapping[str, Mapping[str, Any]]) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["env_id", "scenario", "policy", "metric", "mean", "low", "high", "n", "against"])
        for key, result in compared.items():
            env_id, scenario = key.split(" / ")
            for name, row in result["policies"].items():
                for metric in ("return", "lql_return", "final_accuracy", "mean_tau"):
                    r = row[metric]
                    writer.writerow([env_id, scenario, name, metric, r["mean"], r["low"], r["high"], r["n"], ""])
            for name, diff in result["differences"].items():
                for metric, r in diff.items():
                    writer.writerow([env_id, scenario, name, f"{metric}_difference", r["mean"], r["low"], r["high"],
                                     r["n"], result["best_baseline"]])
