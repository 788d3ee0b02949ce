"""``mel-gym run``: the main job. Train an agent on the default scenario, then compare it with the baselines.

Reads a run config (``configs/run/default.yaml``) and writes into its ``out_dir``: the trained agent and its
TensorBoard logs (``agent/``), ``results.csv`` and ``results.json`` (one row per policy and episode),
``table.md`` (the printed table), ``accuracy.png`` (test accuracy per global cycle, per policy) and ``eval_tb/``
(the evaluation's per-cycle scalars for TensorBoard, a run per policy).

With ``training_seeds`` (a list) the agent is trained once per seed (``agent_seed<N>/``); every trained agent
is evaluated, and a row "<algo> (N training seeds)" gives each metric's mean ± std across the seeds. ``agents``
(a list of ``{agent: NAME, timesteps: N}``) trains several agents, e.g. one on the raw action and one on the
planner's knobs (``<NAME>_seed<N>/``, rows labelled by the agent's name). With a ``headroom`` section the table also
has the non-causal bound rows of :mod:`mel_gym.experiments.headroom` (per-episode hindsight, oracle, open-loop
schedules) and reports each learned agent as the share of the headroom it closes. A last line compares each learned
row with the baseline of the best mean return.
"""

from __future__ import annotations

import json
import shlex
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from mel_gym.agents.sb3 import load_agent_config
from mel_gym.experiments import progress
from mel_gym.experiments.common import DEFAULT_ENV_ID, check_output_dir, env_kwargs_with, make_env
from mel_gym.experiments.episodes import (EpisodeResult, accuracy_curves, compare_with_best, format_job_table,
                                          format_table, plot_curves, summarize, summarize_seeds, write_tensorboard)
from mel_gym.experiments.evaluate import evaluate, write_outputs
from mel_gym.experiments.headroom import BOUND, bound_results, format_headroom_table, headroom_lines, headroom_settings
from mel_gym.experiments.train import latest_save, resume, train
from mel_gym.schema import ConfigError, read_yaml
from mel_gym.paths import configs_dir, preset_names

RUN_KEYS = ("env_id", "scenario", "env_kwargs", "agent", "agents", "timesteps", "n_envs", "seed", "training_seeds",
            "out_dir", "evaluation", "quick", "learning_curve", "headroom")


def load_run_config(name_or_path: str | Path = "default") -> dict[str, Any]:
    """The run config ``name_or_path``: a preset of ``configs/run`` or a YAML file, its keys checked.

    Raises:
        ConfigError: no such preset or file (naming the presets), or an unknown key.
    """
    folder = configs_dir() / "run"
    preset = folder / f"{name_or_path}.yaml"
    if not preset.is_file() and not Path(name_or_path).is_file():
        raise ConfigError(f"--config {str(name_or_path)!r}: no run config of that name or path; the run configs are "
                          f"{', '.join(preset_names('run'))} ({folder}), or give a YAML file's path")
    config = read_yaml(preset if preset.is_file() else Path(name_or_path))
    unknown = sorted(set(config) - set(RUN_KEYS))
    if unknown:
        raise ConfigError(f"unknown run config key '{unknown[0]}'; allowed keys: {list(RUN_KEYS)}")
    return config


def agent_plan(cfg: dict[str, Any], quick: bool) -> list[tuple[str, int | None]]:
    """(agent config, timesteps) of each agent the run trains: ``agents`` (a list of {agent, timesteps}), else the
    single ``agent`` and ``timesteps``; under ``quick`` every agent gets the quick budget."""
    quick_steps = (cfg.get("quick") or {}).get("timesteps", 2048)
    if cfg.get("agents") is None:
        return [(cfg.get("agent", "ppo"), quick_steps if quick else cfg.get("timesteps"))]
    if cfg.get("agent") is not None:
        raise ConfigError("run config: set 'agent' (one agent) or 'agents' (a list), not both")
    plan = []
    for i, entry in enumerate(cfg["agents"]):
        if not isinstance(entry, dict) or "agent" not in entry or set(entry) - {"agent", "timesteps"}:
            raise ConfigError(f"run config key 'agents[{i}]' = {entry!r} must be a mapping with 'agent' and optionally "
                              "'timesteps'")
        plan.append((entry["agent"], quick_steps if quick else entry.get("timesteps", cfg.get("timesteps"))))
    return plan


def pooled(results: list[EpisodeResult], labels: list[str], label: str) -> list[EpisodeResult]:
    """One episode per held-out seed for an agent trained with several seeds: the mean of its seeds' episodes (what
    a paired comparison with a baseline on the same held-out seeds needs)."""
    by_seed: dict[int, list[EpisodeResult]] = {}
    for r in results:
        if r.policy in labels:
            by_seed.setdefault(r.seed, []).append(r)
    out = []
    for seed, mine in by_seed.items():
        hits = [r.cycles_to_target for r in mine if r.cycles_to_target is not None]
        out.append(EpisodeResult(label, mine[0].env_id, seed, float(np.mean([r.episode_return for r in mine])),
                                 float(np.mean([r.lql_return for r in mine])),
                                 float(np.mean([r.final_accuracy for r in mine])),
                                 round(float(np.mean(hits))) if len(hits) == len(mine) else None,
                                 float(np.mean([r.mean_tau for r in mine]))))
    return out


def run(config: str | Path = "default", quick: bool = False, out_dir: str | Path | None = None,
        progress_bar: bool = True, overwrite: bool = False, reuse_agents: bool = False,
        resume_agents: bool = False, finish_agents: bool = False) -> dict[str, Any]:
    """Train, evaluate, write the outputs and print the table; returns the summary rows and paths.

    The output folder must not exist, unless ``overwrite`` (then it is replaced), ``reuse_agents`` (the agents a
    complete earlier run of the same config trained there are evaluated again, without training: their
    ``run.yaml`` must say ``status: complete``), ``resume_agents`` (continue a run that was stopped: complete
    agents are reused, an agent whose training stopped continues from its latest save, as ``mel-gym train
    --resume`` does, and agents never started are trained) or ``finish_agents`` (finish a stopped run without
    training more: complete agents are reused, a stopped one is evaluated as trained so far, from its latest save,
    and agents never started are left out; the table says which agents stopped short of their planned steps). The
    other outputs are replaced. ``progress_bar``: SB3's bar on a terminal, plain progress lines otherwise
    (:mod:`mel_gym.experiments.progress`).

    Raises:
        RunInterrupted: on Ctrl-C (or SIGTERM); its ``hint`` gives the commands that go on from there.
    """
    cfg = load_run_config(config)
    evaluation = dict(cfg.get("evaluation") or {})
    episodes = int(evaluation.get("episodes", 10))
    tune_episodes = int(evaluation.get("tune_episodes", 8))
    if quick:
        episodes = cfg.get("quick", {}).get("episodes", 2)
        tune_episodes = min(tune_episodes, 2)
    out = Path(out_dir or cfg.get("out_dir", "runs/main"))
    chosen = [flag for flag, on in (("--reuse-agents", reuse_agents), ("--resume", resume_agents),
                                    ("--finish", finish_agents)) if on]
    if len(chosen) > 1:
        raise ValueError(f"{' and '.join(chosen)}: choose one (--resume and --finish reuse the complete agents too)")
    earlier = bool(chosen)  # the agents of an earlier run in the output folder are used
    if out.exists() and not (overwrite or earlier):
        raise ValueError(f"output folder {out} exists: pass --overwrite to replace it, --reuse-agents to evaluate its "
                         "agents again, --resume to continue it, --finish to evaluate a stopped run's agents as "
                         "trained so far, or --out another folder")
    check_output_dir(out, "--out")
    env_id = cfg.get("env_id", DEFAULT_ENV_ID)
    env_kwargs = dict(cfg.get("env_kwargs") or {})
    scenario = cfg.get("scenario", "default")
    agents = agent_plan(cfg, quick)
    bounds_settings = headroom_settings(cfg)
    metric = make_env(env_id, scenario, env_kwargs).unwrapped.params.reward.metric  # checks the env settings first
    if out.exists() and not earlier:
        shutil.rmtree(out)

    with progress.task(f"mel-gym run {config} -> {out}", unit=None, quiet=not progress_bar), \
            _stop_hint(config, out, quick, "--finish" if finish_agents else "--reuse-agents") as phase:
        seeds = [int(x) for x in cfg.get("training_seeds") or [cfg.get("seed", 0)]]
        seeds = seeds[:1] if quick else seeds
        curve_every = int((cfg.get("learning_curve") or {}).get("every", 0))
        specs, labels, seconds, groups = [], [], [], []
        stopped: dict[str, dict[str, int]] = {}  # --finish: label -> steps done and planned
        for agent, timesteps in agents:
            algo = load_agent_config(agent)["algo"]
            name = algo if len(agents) == 1 else str(agent)  # several agents: rows named by their configs
            # several agents: a folder each, named by the config (a YAML path gives its file name, no separators)
            folder = "agent" if len(agents) == 1 else Path(str(agent)).stem
            mine = []
            for seed in seeds:
                every = max(int(timesteps or 0) // 2, 1) if quick and curve_every else curve_every
                sub = folder if len(seeds) == 1 else f"{folder}_seed{seed}"
                label = name if len(seeds) == 1 else f"{name}-seed{seed}"
                state = training_state(out / sub) if earlier else "none"
                if reuse_agents and state != "complete":
                    trained_agent(out / sub)  # raises: no complete run there
                if state != "none":
                    check_training_matches(out / sub, env_id, env_kwargs_with(scenario, env_kwargs), agent, timesteps,
                                           seed)
                if state == "complete":
                    model_path, trained_s = trained_agent(out / sub)
                    print(f"[mel-gym run] reusing {model_path} ({agent}, seed {seed}, trained in {trained_s:.0f} s)",
                          flush=True)
                elif state == "stopped" and finish_agents:
                    model_path, trained_s, done, planned = stopped_agent(out / sub)
                    stopped[label] = {"timesteps_done": done, "timesteps": planned}
                    print(f"[mel-gym run] evaluating {model_path} as trained so far ({done} of {planned} steps; "
                          f"{agent}, seed {seed})", flush=True)
                elif finish_agents:
                    print(f"[mel-gym run] {out / sub} ({agent}, seed {seed}) was never trained: left out", flush=True)
                    continue
                elif state == "stopped":
                    print(f"[mel-gym run] resuming {out / sub} ({agent}, seed {seed})", flush=True)
                    trained = resume(out / sub, progress_bar=progress_bar)
                    model_path, trained_s = trained_agent(out / sub)  # all recorded training time (a kill records none)
                    print(f"[mel-gym run] trained in {trained.seconds:.0f} s more", flush=True)
                else:
                    print(f"[mel-gym run] training {agent} on {env_id} (scenario {scenario}) for {timesteps} steps, seed "
                          f"{seed} -> {out / sub}", flush=True)
                    trained = train(env_id, agent=agent, scenario=scenario, env_kwargs=env_kwargs, timesteps=timesteps,
                                    n_envs=cfg.get("n_envs"), seed=seed, runs_dir=out, name=sub,
                                    progress_bar=progress_bar, curve_every=every, overwrite=resume_agents)
                    model_path, trained_s = trained.model_path, trained.seconds
                    print(f"[mel-gym run] trained in {trained_s:.0f} s", flush=True)
                specs.append(str(model_path))
                mine.append(label)
                seconds.append(round(trained_s, 1))
            labels += mine
            if mine:
                groups.append((mine, f"{name} ({len(mine)} training seeds)" if len(mine) > 1 else mine[0]))
        if not specs:
            raise ValueError(f"--finish: no agent in {out} has been trained yet (nothing saved to evaluate); continue "
                             f"training with: {rerun_command(config, out, quick, '--resume')}")
        phase["training"] = False
        baselines = list(evaluation.get("baselines", ["equal", "ha-sync", "random"]))
        baselines += [p for p in bounds_settings["planners"] if p not in baselines]
        print(f"[mel-gym run] evaluating on {episodes} held-out seeds", flush=True)
        start = time.perf_counter()
        tuned: dict[str, Any] = {}
        eval_seed = int(evaluation.get("seed", 10_000))
        log = lambda line: print(line, flush=True)  # noqa: E731
        results = evaluate(specs + baselines, env_id, episodes=episodes, seed=eval_seed, scenario=scenario,
                           env_kwargs=env_kwargs, labels=labels + baselines, log=log, tuned=tuned,
                           tune_seeds=range(tune_episodes))
        curves = learning_curves(out, specs, labels, baselines, env_id, env_kwargs_with(scenario, env_kwargs), tuned) \
            if curve_every else {}
        bounds_record: dict[str, Any] = {"notes": []}
        if bounds_settings["planners"]:
            bounds, bounds_record = bound_results(bounds_settings, env_id, env_kwargs_with(scenario, env_kwargs),
                                                  list(range(eval_seed, eval_seed + episodes)), list(range(tune_episodes)),
                                                  tuned=tuned, quick=quick, log=log)
            results += bounds
        rows = summarize(results)
        learned_rows = []
        for mine, label in groups:
            if len(mine) > 1:
                at = max(i for i, r in enumerate(rows) if r["policy"] in mine) + 1
                rows.insert(at, summarize_seeds(rows, mine, label))
            learned_rows.append(next(r for r in rows if r["policy"] == label))
        env = make_env(env_id, scenario, env_kwargs).unwrapped
        target = env.scenario.target_accuracy
        causal = [b for b in baselines if b != "random"]
        verdicts = [compare_with_best(rows, row, causal) for row in learned_rows]
        paired_learned = results + [r for mine, label in groups if len(mine) > 1 for r in pooled(results, mine, label)]
        lines, numbers = headroom_lines(paired_learned, causal, [label for _, label in groups])
        short = [f"{label} at {n['timesteps_done']:,} of {n['timesteps']:,} steps" for label, n in stopped.items()]
        table = "\n\n".join([(format_headroom_table if bounds_settings["planners"] else format_table)(rows, target, metric),
                              *[v for v in verdicts if v], *lines, *bounds_record["notes"],
                              *([f"Stopped before their planned steps, evaluated as trained so far (--finish): "
                                 f"{'; '.join(short)}"] if short else [])])
        if results[0].job_accuracy is not None:  # MultiJob-v0: each job's accuracy and cycles to its target
            names = list(env.problem.job_names)
            table += ("\n\nPer job: final test accuracy, cycles to its target (episodes that reached it); 'cycles to "
                      "target' above: until every job is done\n\n" + format_job_table(results, names))
        write_outputs(results, out / "results.json", out / "results.csv", None,
                      title=f"{env_id} ({scenario}), {episodes} held-out seeds",
                      extra={"train_seconds": seconds[0] if len(seconds) == 1 else seconds,
                             "timesteps": agents[0][1] if len(agents) == 1 else {a: t for a, t in agents},
                             "training_seeds": seeds, "summary_with_seeds": rows, "tuned": tuned,
                             "comparison": verdicts[0] if len(verdicts) == 1 else verdicts, "headroom": numbers,
                             "bounds": bounds_record, "learning_curves": curves, "stopped_agents": stopped})
        (out / "table.md").write_text(table + "\n")
        causal_results = [r for r in results if not r.policy.startswith(BOUND)]  # the bounds replay baselines' curves
        plot_curves(out / "accuracy.png", accuracy_curves(causal_results),
                    title=f"{env_id} ({scenario}), {episodes} held-out seeds")
        shutil.rmtree(out / "eval_tb", ignore_errors=True)  # a reused folder: one event file, not a second series
        write_tensorboard(out / "eval_tb", causal_results)
        print(table)
        print(f"[mel-gym run] evaluation took {time.perf_counter() - start:.0f} s; wrote {out / 'table.md'}, "
              f"{out / 'results.csv'}, {out / 'results.json'}, {out / 'accuracy.png'}; "
              f"TensorBoard: tensorboard --logdir {out}", flush=True)
        return {"rows": rows, "out_dir": out, "model_path": Path(specs[0]), "model_paths": [Path(p) for p in specs],
                "headroom": numbers}


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) during ``mel-gym run``: ``hint`` says what was saved and the commands that go on."""

    def __init__(self, hint: str):
        super().__init__(hint)
        self.hint = hint


def rerun_command(config: str | Path, out: Path, quick: bool, option: str) -> str:
    """The ``mel-gym run`` command line that goes on with the run of ``config`` in ``out`` with ``option``
    (``--resume``, ``--finish``, ``--reuse-agents``), quoted for a shell."""
    words = ["mel-gym", "run", "--config", str(config), "--out", str(out), *(["--quick"] if quick else []), option]
    return " ".join(shlex.quote(word) for word in words)


@contextmanager
def _stop_hint(config: str | Path, out: Path, quick: bool, again: str = "--reuse-agents") -> Iterator[dict[str, bool]]:
    """Turn a Ctrl-C inside the block into :class:`RunInterrupted` with the commands that go on from where it
    stopped; the block sets ``phase["training"] = False`` once every agent is trained (``again``: the option that
    evaluates them again: ``--reuse-agents``, or ``--finish`` where some stopped short)."""
    phase = {"training": True}
    try:
        yield phase
    except KeyboardInterrupt as err:
        if phase["training"]:
            hint = (f"interrupted while training; what was trained is saved in {out}. Finish the job now, evaluating "
                    f"the agents as trained so far: {rerun_command(config, out, quick, '--finish')} ; or continue "
                    f"training: {rerun_command(config, out, quick, '--resume')}")
        else:
            hint = (f"interrupted while evaluating; the agents are trained and saved in {out}. Evaluate them again: "
                    f"{rerun_command(config, out, quick, again)}")
        raise RunInterrupted(hint) from err


def stopped_agent(folder: Path) -> tuple[Path, float, int, int]:
    """(latest save, recorded training seconds, steps done, steps planned) of the stopped training run in
    ``folder`` (``run.yaml`` keeps the steps of the last save, checkpoints included)."""
    saved = read_yaml(folder / "run.yaml") or {}
    return (latest_save(folder)[0], float(saved.get("train_seconds", 0.0)), int(saved.get("timesteps_done", 0)),
            int(saved.get("timesteps", 0)))


def training_state(folder: Path) -> str:
    """Where the training run in ``folder`` stands: 'complete' (``run.yaml`` says so and the agent is saved),
    'stopped' (it started and left a save to continue from) or 'none' (nothing to continue: train it afresh)."""
    meta = folder / "run.yaml"
    saved = (read_yaml(meta) or {}) if meta.is_file() else {}
    if saved.get("status") == "complete" and (folder / "model.zip").is_file():
        return "complete"
    return "stopped" if meta.is_file() and latest_save(folder) is not None else "none"


def check_training_matches(folder: Path, env_id: str, env_kwargs: dict[str, Any], agent: str, timesteps: int | None,
                           seed: int) -> None:
    """Refuse to reuse or resume the training run in ``folder`` unless it trains what the run config asks: the same
    env ID, env keyword arguments (scenario included), agent config, planned steps and seed.

    Raises:
        ValueError: naming the first setting that differs.
    """
    config = load_agent_config(agent)
    wanted = {"env_id": env_id,
              "env_kwargs": {**env_kwargs, **config["env_kwargs"], "device": "cpu"},
              "agent": config,
              "timesteps": config["total_timesteps"] if timesteps is None else int(timesteps),
              "seed": int(seed)}
    saved = read_yaml(folder / "run.yaml") or {}
    for key, value in wanted.items():
        if saved.get(key) != value:
            raise ValueError(f"--reuse-agents/--resume/--finish: {folder / 'run.yaml'} was trained with {key} "
                             f"{saved.get(key)!r}, the run config asks for {value!r}; pass --overwrite to train again")


def trained_agent(folder: Path) -> tuple[Path, float]:
    """(the agent, its training seconds) of a complete ``mel-gym train`` run in ``folder``.

    Raises:
        ValueError: no complete run there.
    """
    meta = folder / "run.yaml"
    saved = (read_yaml(meta) or {}) if meta.is_file() else {}
    if training_state(folder) != "complete":
        raise ValueError(f"--reuse-agents: {folder} holds no complete training run (run.yaml status "
                         f"{saved.get('status')!r}); run without --reuse-agents to train it")
    return folder / "model.zip", float(saved.get("train_seconds", 0.0))


def learning_curves(out: Path, specs: list[str], labels: list[str], baselines: list[str], env_id: str,
                    env_kwargs: dict[str, Any], tuned: dict[str, Any] | None = None) -> dict[str, Any]:
    """The trained agents' learning curves (``learning_curve.json`` beside each) and the baselines' mean return on
    the same validation seeds (at their knobs tuned on training seeds, ``tuned``: label -> setting as
    :func:`mel_gym.experiments.evaluate.evaluate` records them), drawn against training steps and training wall time
    into ``learning_curves.png``."""
    from mel_gym.agents.registry import make_policy
    from mel_gym.experiments.episodes import play
    from mel_gym.experiments.train import LEARNING_CURVE_FILE, VALIDATION_SEEDS

    agents = {label: json.loads((Path(spec).parent / LEARNING_CURVE_FILE).read_text())
              for spec, label in zip(specs, labels) if (Path(spec).parent / LEARNING_CURVE_FILE).is_file()}

    def baseline(name: str) -> Any:
        """(problem, space) -> the baseline ``name`` at its tuned knobs (as built where it was not tuned)."""
        setting = {k: v for k, v in (tuned or {}).get(name, {}).items() if k != "scores"}

        def make(problem: Any, space: Any) -> Any:
            policy = make_policy(name, problem, space)
            if setting:
                policy.set_knobs(setting)
            return policy
        return make

    levels = {}
    for name in baselines:
        episodes = play(baseline(name), env_id, list(VALIDATION_SEEDS), name,
                        {k: v for k, v in env_kwargs.items() if k != "device"})
        levels[name] = float(sum(e.episode_return for e in episodes) / len(episodes))
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    fig = Figure(figsize=(11, 4.2), dpi=100)
    FigureCanvasAgg(fig)
    for ax, key, label in zip(fig.subplots(1, 2), ("steps", "wall_s"), ("training env steps", "training time (s)")):
        for name, rows in agents.items():
            ax.plot([r[key] for r in rows], [r["mean_return"] for r in rows], marker="o", label=name)
        for i, (name, level) in enumerate(levels.items()):
            ax.axhline(level, linestyle="--", linewidth=0.9, color=f"C{(len(agents) + i) % 10}", label=name)
        ax.set_xlabel(label)
        if key == "steps":
            ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x / 1000:g}k"))
        ax.set_ylabel(f"mean return on validation seeds {VALIDATION_SEEDS[0]}-{VALIDATION_SEEDS[-1]}")
        ax.grid(alpha=0.3)
    fig.axes[0].legend(fontsize=7)
    fig.savefig(out / "learning_curves.png")
    return {"agents": agents, "baselines": levels, "seeds": list(VALIDATION_SEEDS)}
