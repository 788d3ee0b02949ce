"""``mel-gym sweep CONFIG``: many training runs at once on Ray Tune, collected into one table.

A sweep config (``configs/sweeps/<name>.yaml`` or a YAML path) names the grid: ``envs`` x ``scenarios`` x
``agents`` (configs/agents presets or paths) x ``seeds`` (training seeds); ``hyperparams`` overrides the agents'
hyperparameters, each value fixed, a list (a grid axis) or a distribution (``{loguniform: [low, high]}``,
``{uniform: [low, high]}``, ``{randint: [low, high]}``, ``{choice: [a, b, ...]}``, Ray Tune's meanings), of which
``num_samples`` points are drawn (random search, seeded by ``search_seed``; :func:`hyperparameter_points`). The
driver lists every trial and Ray Tune runs them, ``trial_cpus`` each: a trial trains its agent
(:func:`mel_gym.experiments.train.train`, torch on one thread) and evaluates it and the baselines on the same seeds
(:func:`mel_gym.experiments.evaluate.evaluate`; by default every baseline that fits the env), then hands its folder
(the agent, ``results.json``, ``results.csv``) to Tune as the trial's checkpoint.

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

import numpy as np

from mel_gym.schema import ConfigError, deep_merge, read_yaml
from mel_gym.paths import configs_dir

SWEEP_KEYS = ("envs", "scenarios", "agents", "seeds", "hyperparams", "num_samples", "search_seed", "timesteps",
              "n_envs", "env_kwargs", "evaluation", "trial_cpus", "num_cpus", "max_concurrent_trials", "out_dir",
              "storage", "address", "quick")
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
        "search_seed": raw.get("search_seed", 0),
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
    for key, value in cfg["quick"].items():
        if key not in ("timesteps", "episodes"):
            raise ConfigError(f"unknown sweep config key 'quick.{key}'; allowed: ['timesteps', 'episodes']")
        if not _is_int(value) or value < 1:
            raise ConfigError(f"sweep config key 'quick.{key}' = {value!r} must be an integer >= 1")
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
    if not _is_int(cfg["search_seed"]):
        raise ConfigError(f"sweep config key 'search_seed' = {cfg['search_seed']!r} must be an integer")
    if cfg["num_samples"] > 1 and not any(_is_distribution(v) for v in _leaves(cfg["hyperparams"]).values()):
        raise ConfigError(f"sweep config key 'num_samples' = {cfg['num_samples']}: repeats the grid with fresh draws "
                          "of the hyperparams' distributions, and there is none (the repeats would be the same trials)")
    cfg["points"] = hyperparameter_points(cfg["hyperparams"], cfg["num_samples"], cfg["search_seed"])
    cfg["baselines"] = _baselines(cfg)  # builds each env and scenario once: checks them too
    _check_grid(cfg)
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
                need = "a non-empty list of values" if kind == "choice" else "[low, high] with low < high"
                raise ConfigError(f"sweep config key '{where}.{key}.{kind}' = {args!r}: {need}")
            if kind == "loguniform" and args[0] <= 0:
                raise ConfigError(f"sweep config key '{where}.{key}.loguniform' = {args!r}: low must be > 0")
        elif isinstance(value, list) and not value:
            raise ConfigError(f"sweep config key '{where}.{key}' is an empty list (a grid axis needs values)")
        elif isinstance(value, Mapping):
            _check_space(value, f"{where}.{key}")


def _leaves(space: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted name -> leaf of a hyperparameter space (a distribution is a leaf; so is a list, a grid axis)."""
    out = {}
    for key, value in space.items():
        if isinstance(value, Mapping) and not _is_distribution(value):
            out.update(_leaves(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _nested(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``{"policy_kwargs.hidden": 64}`` -> ``{"policy_kwargs": {"hidden": 64}}``."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        *parents, last = key.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return out


def _draw(rng: np.random.Generator, distribution: Mapping[str, list]) -> Any:
    """One value of ``{kind: args}`` (Ray Tune's meanings: randint's high is excluded)."""
    (kind, args), = distribution.items()
    if kind == "uniform":
        return float(rng.uniform(args[0], args[1]))
    if kind == "loguniform":
        return float(np.exp(rng.uniform(np.log(args[0]), np.log(args[1]))))
    if kind == "randint":
        return int(rng.integers(args[0], args[1]))
    return args[int(rng.integers(len(args)))]


def hyperparameter_points(space: Mapping[str, Any], num_samples: int = 1, seed: int = 0) -> list[dict[str, Any]]:
    """The hyperparameters the sweep trains with: ``num_samples`` draws of the distributions (numpy, seeded by
    ``seed``), each crossed with every combination of the grid axes (lists; a list value that is itself a list is one
    value, e.g. ``net_arch: [[64, 64]]``); fixed values as given. Each point is ``{"sample": draw index or None,
    "values": nested hyperparameters, "varied": {dotted name: value} of the draws and of the axes with several
    values}``; the draws are shared by every env, scenario, agent, seed and grid combination, so training seeds of
    one point pool."""
    leaves = _leaves(space)
    axes = {k: v for k, v in leaves.items() if isinstance(v, list)}
    distributions = {k: v for k, v in leaves.items() if _is_distribution(v)}
    fixed = {k: v for k, v in leaves.items() if k not in axes and k not in distributions}
    rng = np.random.default_rng(seed)
    points = []
    for index in range(num_samples):
        draw = {k: _draw(rng, v) for k, v in distributions.items()}
        for combination in itertools.product(*axes.values()):
            chosen = {**dict(zip(axes, combination)), **draw}
            varied = {k: v for k, v in chosen.items() if k in distributions or len(axes[k]) > 1}
            points.append({"sample": index if num_samples > 1 else None, "values": _nested({**fixed, **chosen}),
                           "varied": varied})
    return points


def _check_grid(cfg: dict[str, Any]) -> None:
    """Every agent takes every hyperparameter point, and no name or trial label repeats."""
    for key in ("envs", "scenarios", "agents", "seeds"):
        repeated = sorted({str(v) for v in cfg[key] if cfg[key].count(v) > 1})
        if repeated:
            raise ConfigError(f"sweep config key '{key}' names {repeated[0]!r} twice")
    for agent, point in itertools.product(cfg["agents"], cfg["points"]):
        try:
            agent_config(agent, point["values"])
        except ConfigError as err:
            raise ConfigError(f"sweep config: agent {agent!r} with the sweep's hyperparams: {err}") from err
    labels = [trial_label(agent, point, 0) for agent, point in itertools.product(cfg["agents"], cfg["points"])]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise ConfigError(f"sweep config key 'hyperparams': two trials would both be {repeated[0]!r} (a grid axis "
                          "with a value twice?)")


def agent_config(agent: str, hyperparams: Mapping[str, Any]) -> dict[str, Any]:
    """The agent config ``agent`` (preset or path) with ``hyperparams`` merged into its ``hyperparams``, checked."""
    from mel_gym.agents.sb3 import agent_config_path, load_agent_config

    raw = read_yaml(agent_config_path(agent))
    raw["hyperparams"] = deep_merge(dict(raw.get("hyperparams") or {}), dict(hyperparams))
    load_agent_config(raw)
    return raw


def _source(name: str, kind: str) -> str:
    """A preset name as it is; a YAML path made absolute (a Tune trial runs in its own working folder)."""
    if (configs_dir() / kind / f"{name}.yaml").is_file() or not Path(name).is_file():
        return name
    return str(Path(name).resolve())


def _label_value(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value).replace(" ", "")


def trial_label(agent: str, point: Mapping[str, Any], seed: int) -> str:
    """``ppo-seed0``; with hyperparameters that vary, ``ppo[learning_rate=0.0003]-seed0``, and with several draws the
    draw's index first, ``ppo[#2,learning_rate=0.000312]-seed0`` (the ``-seedN`` suffix is what ``compare`` pools
    training seeds by)."""
    parts = ([f"#{point['sample']}"] if point.get("sample") is not None else []) + \
        [f"{k}={_label_value(v)}" for k, v in point.get("varied", {}).items()]
    return f"{agent}[{','.join(parts)}]-seed{seed}" if parts else f"{agent}-seed{seed}"


def trials(cfg: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every trial: env x scenario x agent x hyperparameter point x seed, in that order, each with its label."""
    return [{"env_id": e, "scenario": s, "agent": a, "seed": int(seed), "hyperparams": point["values"],
             "label": trial_label(a, point, int(seed)), "agent_source": _source(a, "agents"),
             "scenario_source": _source(s, "scenarios")}
            for e, s, a, point, seed in itertools.product(cfg["envs"], cfg["scenarios"], cfg["agents"], cfg["points"],
                                                          cfg["seeds"])]


def run_trial(config: dict[str, Any]) -> None:
    """One Tune trial: train the agent, evaluate it and the baselines, report the agent's mean return and hand the
    folder to Tune as the trial's checkpoint. ``config``: {"trial": a :func:`trials` row, "settings": the sweep's
    settings}."""
    import tempfile

    import torch
    from ray import tune

    from mel_gym.experiments import progress
    from mel_gym.experiments.evaluate import evaluate, write_outputs
    from mel_gym.experiments.train import train

    torch.set_num_threads(1)
    progress.configure(enabled=False)  # a trial's lines would only clutter Ray's logs: the driver counts trials
    trial, settings = config["trial"], config["settings"]
    evaluation, label = settings["evaluation"], trial["label"]
    work = Path(tempfile.mkdtemp(prefix="mel_gym_trial_"))
    try:
        trained = train(trial["env_id"], agent=agent_config(trial["agent_source"], trial["hyperparams"]),
                        scenario=trial["scenario_source"], env_kwargs=settings["env_kwargs"],
                        timesteps=settings["timesteps"], n_envs=settings["n_envs"], seed=trial["seed"],
                        runs_dir=work, name="agent", progress_bar=False, checkpoint_every=0)
        tuned: dict[str, Any] = {}
        baselines = list(evaluation["baselines"][group_key(trial["env_id"], trial["scenario"])])
        started = time.perf_counter()
        results = evaluate([str(trained.model_path)] + baselines, trial["env_id"], episodes=evaluation["episodes"],
                           seed=evaluation["seed"], scenario=trial["scenario_source"],
                           env_kwargs=settings["env_kwargs"], labels=[label] + baselines, tuned=tuned,
                           tune_seeds=range(evaluation["tune_episodes"]))
        eval_seconds = round(time.perf_counter() - started, 1)
        write_outputs(results, work / "results.json", work / "results.csv",
                      extra={"trial": trial, "label": label, "tuned": tuned, "timesteps": trained.timesteps,
                             "train_seconds": round(trained.seconds, 1), "eval_seconds": eval_seconds})
        mine = [r.episode_return for r in results if r.policy == label]
        by_baseline = {b: sum(r.episode_return for r in results if r.policy == b) / evaluation["episodes"]
                       for b in baselines if b != "random"}
        best = max(by_baseline, key=by_baseline.get) if by_baseline else None
        tune.report({"return": sum(mine) / len(mine), "label": label, "best_baseline": best,
                     "best_baseline_return": by_baseline.get(best), "train_seconds": round(trained.seconds, 1),
                     "eval_seconds": eval_seconds}, checkpoint=tune.Checkpoint.from_directory(str(work)))
    finally:  # report() has copied the folder to the sweep's storage
        shutil.rmtree(work, ignore_errors=True)


def group_key(env_id: str, scenario: str) -> str:
    """How the table names an env and scenario: ``mel_gym/TaskAllocation-v0 / default``."""
    return f"{env_id} / {scenario}"


def _baselines(cfg: Mapping[str, Any]) -> dict[str, list[str]]:
    """:func:`group_key` -> the baselines its trials evaluate: the config's list, or every baseline that fits. Builds
    each env with each scenario once (an env ID or scenario that does not build is a ConfigError naming both)."""
    from mel_gym.agents.registry import policies_for
    from mel_gym.experiments.common import check_env_id, make_env

    chosen = cfg["evaluation"].get("baselines")
    out = {}
    for env_id, scenario in itertools.product(cfg["envs"], cfg["scenarios"]):
        try:
            check_env_id(env_id)
            env = make_env(env_id, scenario, cfg["env_kwargs"]).unwrapped
        except (ValueError, ConfigError) as err:
            raise ConfigError(f"sweep config: env {env_id!r} with scenario {scenario!r}: {err}") from err
        fits = policies_for(env.problem)
        env.close()
        if chosen is not None:
            bad = [b for b in chosen if b not in fits]
            if bad:
                raise ConfigError(f"sweep config key 'evaluation.baselines': {bad[0]!r} does not fit {env_id} with "
                                  f"scenario {scenario!r}; its baselines: {fits}")
        out[group_key(env_id, scenario)] = fits if chosen is None else list(chosen)
    return out


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
                "evaluation": {"episodes": episodes, "seed": int(evaluation.get("seed", 10_000)),
                               "tune_episodes": int(evaluation.get("tune_episodes", 8)),
                               "baselines": cfg["baselines"]}}
    address = address or cfg["address"] or os.environ.get("RAY_ADDRESS")
    if address and num_cpus is not None:
        raise ValueError(f"--num-cpus {num_cpus}: a cluster ({address}) has its own CPUs; drop one of the two")
    if cfg["storage"] is not None and "://" not in str(cfg["storage"]):
        check_output_dir(storage_path(cfg["storage"], out), "sweep config key 'storage'")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
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

    from mel_gym.experiments import progress

    class TrialsDone(tune.Callback):
        """Counts each finished or failed trial for the driver's progress lines."""

        def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            progress.advance(1)

        def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            progress.advance(1)

    rows = trials(cfg)
    steps = timesteps or "the agent configs'"
    log(f"[mel-gym sweep] {len(rows)} trials on Ray ({ray.cluster_resources().get('CPU', 0):g} CPUs), "
        f"{steps} training steps each, {episodes} evaluation episodes from seed "
        f"{settings['evaluation']['seed']}; writing {out}")
    tuner = tune.Tuner(  # the trials are drawn above (seeded): Tune runs the list, trial_cpus each
        tune.with_resources(run_trial, {"cpu": cfg["trial_cpus"]}),
        param_space={"trial": tune.grid_search(rows), "settings": settings},
        tune_config=tune.TuneConfig(max_concurrent_trials=cfg["max_concurrent_trials"],
                                    trial_dirname_creator=lambda t: f"trial_{t.trial_id}"),
        run_config=tune.RunConfig(name="tune", storage_path=storage_path(cfg["storage"], out), verbose=1,
                                  failure_config=tune.FailureConfig(max_failures=0), callbacks=[TrialsDone()]),
    )
    with progress.task(f"mel-gym sweep -> {out}", len(rows), "trials"):
        grid_results = tuner.fit()
    return collect(grid_results, out, log)


def storage_path(storage: str | None, out: Path) -> str:
    """Where Tune keeps the trials: ``out/ray`` by default; a URI (``s3://...``) as given; a folder made absolute."""
    if storage is None:
        return str(out / "ray")
    return storage if "://" in storage else str(Path(storage).expanduser().resolve())


def collect(grid_results: Any, out: Path, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Gather the trials' results files (from their checkpoints) into one file per env and scenario, compare each
    and write the sweep's table."""
    from mel_gym.experiments.compare import compare

    done, failed = [], []
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
        done.append({**trial, "return": result.metrics["return"], "train_seconds": data["train_seconds"],
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
    (out / "sweep.json").write_text(json.dumps({"trials": done, "failed": failed,
                                                "groups": {k: {kk: vv for kk, vv in v.items() if kk != "text"}
                                                           for k, v in compared.items()}}, indent=1))
    log(table)
    log(f"[mel-gym sweep] wrote {out / 'sweep.md'}, sweep.csv, sweep.json; per env and scenario compare's files and "
        f"figures; trials' agents and results under {out / 'trials'}")
    return {"table": table, "groups": compared, "trials": done, "failed": failed, "out_dir": out}


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
    from mel_gym.agents.registry import BASELINE_NAMES
    from mel_gym.experiments.compare import difference_text, interval_text

    level = next(iter(compared.values()))["level"] if compared else 0.95
    pct = f"{level:.0%}"
    lines = [f"| env / scenario | policy | episodes | return [{pct} CI] | final test acc. [{pct} CI] | "
             f"return - best baseline [{pct} CI] |", "|---|---|---|---|---|---|"]
    for key, result in compared.items():
        best = result["best_baseline"]
        # agents first, then their pooled rows, then the baselines
        order = lambda name: (name in BASELINE_NAMES, bool(_POOLED.search(name)))  # noqa: E731
        for name, row in sorted(result["policies"].items(), key=lambda item: order(item[0])):
            diff = result["differences"].get(name, {}).get("return")
            if name == best:
                cell = "(best baseline)"
            elif diff is None:
                cell = ""
            else:
                cell = difference_text(diff)
            lines.append(f"| {key} | {name} | {row['episodes']} | {interval_text(row['return'])} | "
                         f"{interval_text(row['final_accuracy'])} | {cell} |")
        if not result.get("baselines_agree", True):
            lines.append(f"| {key} | (the baselines' returns differed between trials: check determinism) | | | | |")
    return "\n".join(lines)


def _write_csv(path: Path, compared: Mapping[str, Mapping[str, Any]]) -> None:
    """compare's CSV rows (:func:`mel_gym.experiments.compare.csv_rows`) of every env and scenario, those two first."""
    from mel_gym.experiments.compare import csv_rows

    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["env_id", "scenario", "policy", "metric", "mean", "low", "high", "n", "against"])
        for key, result in compared.items():
            writer.writerows([*key.split(" / "), *row] for row in csv_rows(result))
