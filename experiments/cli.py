"""The ``mel-gym`` command line: train, evaluate, compare, run, bench, reproduce, download, scenario.

Every command imports its heavy parts (torch, SB3) only when it runs, so ``--help`` answers at once. Bad input
(an unknown env ID, key, value, policy or file, an output path that cannot be written) prints one line and
exits with status 2; Ctrl-C during ``train`` or ``run`` saves what was trained, prints the commands that go on from
there and exits with 130. With stdout not a terminal, the long commands print a plain progress line every
``$MEL_GYM_PROGRESS_EVERY`` seconds (default 30; :mod:`mel_gym.experiments.progress`); ``--no-progress`` silences it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from mel_gym.agents.registry import BASELINES
from mel_gym.experiments.common import (DEFAULT_ENV_ID, check_env_id, check_output_dir, check_output_path,
                                        parse_env_kwargs, parse_value)
from mel_gym.paths import preset_names
from mel_gym.registration import ENV_IDS, env_class


def _add_env_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("env_id", nargs="?", default=DEFAULT_ENV_ID,
                   help=f"Gymnasium env ID (default {DEFAULT_ENV_ID}); one of: {', '.join(ENV_IDS)}")
    p.add_argument("--scenario", default=None,
                   help=f"scenario preset ({', '.join(preset_names('scenarios'))}) or a YAML path")
    p.add_argument("--env-kwarg", action="append", default=[], metavar="KEY=VALUE",
                   help="override a scenario key or set an env parameter, dotted for sections, e.g. "
                        "reward.metric=accuracy or channel.bandwidth_hz=1e6 (repeatable)")
    p.add_argument("--device", default="cpu", help="torch device of the embedded trainer and the agent: cpu, cuda, auto")
    p.add_argument("--torch-threads", type=int, default=1, help="torch intra-op threads of this process (default 1)")


def _add_progress_arg(p: argparse.ArgumentParser) -> None:
    """``--no-progress`` of a long command: no progress bar on a terminal, no progress lines in a log."""
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar (terminal) and no progress lines (stdout not a terminal: one every "
                        "$MEL_GYM_PROGRESS_EVERY seconds, default 30, 'off' for none)")


def _cmd_train(args: argparse.Namespace) -> None:
    from mel_gym.experiments.train import resume, train

    if args.resume:
        result = resume(args.resume, progress_bar=not args.no_progress, torch_threads=args.torch_threads,
                        timesteps=args.timesteps)
    else:
        result = train(args.env_id, agent=args.agent, scenario=args.scenario,
                       env_kwargs=parse_env_kwargs(args.env_kwarg), timesteps=args.timesteps, n_envs=args.n_envs,
                       seed=args.seed, runs_dir=args.runs_dir, name=args.name, device=args.device,
                       checkpoint_every=args.checkpoint_every, progress_bar=not args.no_progress,
                       vec_env=args.vec_env, overwrite=args.overwrite, torch_threads=args.torch_threads,
                       curve_every=args.curve_every)
    print(f"trained to {result.timesteps} steps ({result.seconds:.0f} s this time); agent saved to "
          f"{result.model_path}; TensorBoard: tensorboard --logdir {result.run_dir / 'tb'}")


def _cmd_episode(args: argparse.Namespace) -> None:
    import torch

    check_env_id(args.env_id)
    if args.compare and not args.gif:
        raise ValueError("--compare needs --gif PATH (the side-by-side animation)")
    if not args.fps > 0:
        raise ValueError(f"--fps {args.fps:g} must be > 0 (GIF frames per second)")
    plot = args.plot if args.plot is not None or args.gif else "episode.png"
    check_output_path(plot, "--plot")
    check_output_path(args.gif, "--gif")
    torch.set_num_threads(args.torch_threads)
    env_kwargs = parse_env_kwargs(args.env_kwarg)
    if plot:
        from mel_gym.experiments.episode_plot import plot_episode, record_episode

        record = record_episode(args.env_id, args.policy, args.seed, args.scenario, env_kwargs)
        plot_episode(record, plot, title=f"{args.env_id} ({args.scenario or 'default scenario'}), policy "
                                         f"{args.policy}, seed {args.seed}")
        out = record["outage"]
        print(f"{out.shape[0]} cycles: {int(out.sum())} link failures in {out.size} learner-cycles (predicted "
              f"{record['outage_probability'].sum():.1f}); final test accuracy {record['test_accuracy'][-1]:.3f}; "
              f"wrote {plot}")
    if args.gif:
        from mel_gym.experiments.animation import animate_episode

        policies = [args.policy] + ([args.compare] if args.compare else [])
        episodes = animate_episode(args.env_id, policies, args.seed, args.gif, args.scenario, env_kwargs,
                                   fps=args.fps, device=args.device)
        summary = "; ".join(f"{e.policy}: {len(e.frames)} cycles, final test accuracy {e.final_accuracy:.3f}, "
                            f"return {e.episode_return:.3f}" for e in episodes)
        print(f"{summary}; wrote {args.gif}")


def _cmd_evaluate(args: argparse.Namespace) -> None:
    import torch

    from mel_gym.experiments.episodes import format_table, summarize
    from mel_gym.experiments.evaluate import evaluate, write_outputs

    check_env_id(args.env_id)
    for path, what in ((args.json, "--json"), (args.csv, "--csv"), (args.plot, "--plot")):
        check_output_path(path, what)
    if args.tensorboard:
        check_output_dir(args.tensorboard, "--tensorboard")
    torch.set_num_threads(args.torch_threads)
    env_kwargs = parse_env_kwargs(args.env_kwarg)
    policies = args.policy or None

    def write(results):  # after each policy: nothing is lost if a later one fails or is interrupted
        for path in (args.json, args.csv, args.plot):
            if path:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
        write_outputs(results, args.json, args.csv, args.plot, title=args.env_id)

    if policies is None:
        from mel_gym.agents.registry import policies_for
        from mel_gym.experiments.common import make_env

        policies = [p for p in policies_for(make_env(args.env_id, args.scenario, env_kwargs).unwrapped.problem)
                    if p in ("equal", "ha-sync", "all", "greedy", "random")]
    results = evaluate(policies, args.env_id, episodes=args.episodes, seed=args.seed, scenario=args.scenario,
                       env_kwargs=env_kwargs, device=args.device, on_policy_done=write,
                       log=lambda line: print(line, file=sys.stderr, flush=True))
    from mel_gym.experiments.common import make_env

    env = make_env(args.env_id, args.scenario, env_kwargs).unwrapped
    print(format_table(summarize(results), env.scenario.target_accuracy, env.params.reward.metric))
    if args.tensorboard:
        from mel_gym.experiments.episodes import write_tensorboard

        write_tensorboard(args.tensorboard, results)
        print(f"TensorBoard: tensorboard --logdir {args.tensorboard}", file=sys.stderr)


def _cmd_compare(args: argparse.Namespace) -> None:
    from mel_gym.experiments.compare import compare

    if not 0.0 < args.level < 1.0:
        raise ValueError(f"--level {args.level:g} must lie in (0, 1), e.g. 0.95")
    check_output_dir(args.out, "--out")
    result = compare(args.results, args.out, level=args.level)
    print(result["text"])
    print(f"wrote {Path(args.out) / 'compare.md'}, compare.csv, compare.json and curves.png")


def _cmd_sweep(args: argparse.Namespace) -> None:
    from mel_gym.experiments.sweep import sweep

    result = sweep(args.config, out_dir=args.out, address=args.address, num_cpus=args.num_cpus, quick=args.quick,
                   overwrite=args.overwrite)
    if result["failed"]:  # the table holds the others; the exit status says that not every trial ran
        print(f"mel-gym sweep: {len(result['failed'])} trial(s) failed (see the end of the table)", file=sys.stderr)
        sys.exit(1)


def _cmd_rlzoo_tune(args: argparse.Namespace) -> None:
    from mel_gym.integrations.rlzoo import tune
    from mel_gym.paths import configs_dir

    file = Path(args.file) if args.file else configs_dir() / "rlzoo" / f"{args.algo}.yml"
    tune(args.algo, file, env_ids=args.env, out_dir=args.out, trials=args.trials, timesteps=args.timesteps,
         seed=args.seed, env_kwargs=args.env_kwargs, startup_trials=args.startup_trials)
    print(f"wrote {file}")


def _cmd_run(args: argparse.Namespace) -> None:
    from mel_gym.experiments.run import run

    run(args.config, quick=args.quick, out_dir=args.out, progress_bar=not args.no_progress, overwrite=args.overwrite,
        reuse_agents=args.reuse_agents, resume_agents=args.resume, finish_agents=args.finish)


def _cmd_headroom(args: argparse.Namespace) -> None:
    from mel_gym.experiments.headroom import headroom

    headroom(args.config, quick=args.quick, out_dir=args.out, device=args.device)


def _cmd_bench(args: argparse.Namespace) -> None:
    from mel_gym.experiments.bench import format_report, run_bench, write_report

    check_output_path(args.json, "--json")
    report = run_bench(quick=args.quick, device=args.device, torch_threads=args.torch_threads)
    print(format_report(report))
    if args.json:
        write_report(args.json, report)


def _cmd_reproduce(args: argparse.Namespace) -> None:
    import json

    from mel_gym.experiments.reproduce import json_payload, reproduce, tau_sweep

    check_output_path(args.json, "--json")
    if args.sweep:
        key, sep, raw = args.sweep.partition("=")
        if not sep or not key or not raw:
            raise ValueError(f"--sweep {args.sweep!r} must look like KEY=V1,V2,... (e.g. energy.cycle_cap_j=0.5,1,2)")
        rows = tau_sweep(args.figure, key, [parse_value(v) for v in raw.split(",") if v], seeds=args.seeds,
                         cycles=args.cycles or 3, seed=args.seed, dataset=(args.dataset or ["mnist5k"])[0],
                         env_kwargs=parse_env_kwargs(args.env_kwarg), scenario=args.scenario)
        if args.json:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps({"figure": args.figure, "tau_sweep": rows}, indent=1,
                                                  allow_nan=False))
        return
    check_output_dir(args.out, "--out")
    results = reproduce(args.figure, quick=args.quick, datasets=args.dataset or None, seeds=args.seeds,
                        cycles=args.cycles, seed=args.seed, targets=args.targets, relative=args.relative,
                        scenario=args.scenario, env_kwargs=parse_env_kwargs(args.env_kwarg), out_dir=args.out)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(json_payload(results), indent=1, allow_nan=False))


def _cmd_download(args: argparse.Namespace) -> None:
    from mel_gym.learning.datasets import download_mnist

    print(f"MNIST IDX files in {download_mnist(args.dir)}")


def _cmd_scenario(args: argparse.Namespace) -> None:
    import yaml

    from mel_gym.config import describe_fields, load_scenario, scenario_to_dict

    if args.name is None:
        print("presets:", ", ".join(preset_names("scenarios")))
        print("\n| key | default | allowed | meaning |\n|---|---|---|---|")
        for key, default, allowed, doc in describe_fields():
            print(f"| `{key}` | {default} | {allowed} | {doc} |")
        return
    print(yaml.safe_dump(scenario_to_dict(load_scenario(args.name)), sort_keys=False))


def env_summary(env_class: type, width: int = 110) -> str:
    """The first sentence of an env class's docstring, cut before its ``:`` when longer than ``width``."""
    sentence = " ".join((env_class.__doc__ or "").strip().split("\n\n")[0].split()).split(". ")[0].rstrip(".")
    return sentence.split(": ")[0] if len(sentence) > width else sentence


def _cmd_envs(args: argparse.Namespace) -> None:
    from mel_gym.envs.params import describe_params

    for env_id in args.env_ids:
        check_env_id(env_id)
        if env_id not in ENV_IDS:  # registered with Gymnasium (e.g. CartPole-v1) but not one of ours
            raise ValueError(f"env ID {env_id!r} is not a mel_gym env: choose one of {', '.join(ENV_IDS)}")
    classes = {env_id: env_class(env_id) for env_id in ENV_IDS}
    if not (args.details or args.env_ids):
        width = max(len(env_id) for env_id in ENV_IDS)
        for env_id, cls in classes.items():
            print(f"{env_id:<{width}}  {env_summary(cls)}")
        print("\nparameters of an env: mel-gym envs ENV_ID; of all of them: mel-gym envs --details")
        return
    for env_id in args.env_ids or list(ENV_IDS):
        core = classes[env_id].core_class
        print(f"\n{env_id}: {env_summary(classes[env_id])} (default scenario {core.default_scenario}), parameters "
              f"({core.params_class.__name__}):\n\n| parameter | default | allowed | meaning |\n|---|---|---|---|")
        for key, default, allowed, doc in describe_params(core.params_class):
            print(f"| `{key}` | {default} | {allowed} | {doc} |")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mel-gym", description="Mobile Edge Learning Gymnasium environments")
    sub = parser.add_subparsers(dest="command", required=True)
    policies = ", ".join(f"{name} ({b.doc})" for name, b in BASELINES.items())

    p = sub.add_parser("train", help="train an SB3 agent (TensorBoard logs, checkpoints, progress bar)")
    _add_env_args(p)
    p.add_argument("--agent", default="ppo", help=f"agent config: {', '.join(preset_names('agents'))} "
                   "(configs/agents) or a YAML path")
    p.add_argument("--timesteps", type=int, default=None, help="env steps, >= 1 (default: the agent config's; "
                   "with --resume: the new planned total)")
    p.add_argument("--n-envs", type=int, default=None, help="parallel envs, >= 1 (default: the agent config's)")
    p.add_argument("--vec-env", choices=["native", "dummy"], default="native",
                   help="native: the n envs as one batched simulator (default); dummy: SB3's DummyVecEnv")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--runs-dir", default="runs", help="parent folder of the run (default runs/)")
    p.add_argument("--name", default=None, help="run folder name (default ALGO-ENV-TIMESTAMP); must not exist")
    p.add_argument("--overwrite", action="store_true", help="replace the run folder if it exists")
    p.add_argument("--resume", default=None, metavar="RUN_DIR",
                   help="continue an interrupted run to its planned step count (Ctrl-C saves a run)")
    p.add_argument("--checkpoint-every", type=int, default=10_000, help="env steps between checkpoints (0: none)")
    _add_progress_arg(p)
    p.add_argument("--curve-every", type=int, default=0, metavar="STEPS",
                   help="every STEPS env steps, play the policy on validation seeds 5000-5003 and write "
                        "learning_curve.json (steps, wall time, mean return); 0 = no curve (default)")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("evaluate", help="compare saved agents and baselines on the same held-out seeds")
    _add_env_args(p)
    p.add_argument("--policy", action="append", default=[],
                   help=f"a baseline: {policies}, random; or a saved agent path (repeatable; default: the env's "
                        "simple baselines and random)")
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--seed", type=int, default=10_000, help="episode i uses env seed SEED + i")
    p.add_argument("--json", default=None, help="write per-episode results as JSON here")
    p.add_argument("--csv", default=None, help="write per-episode results as CSV here")
    p.add_argument("--plot", default=None, help="write a PNG of test accuracy per global cycle here")
    p.add_argument("--tensorboard", default=None, metavar="DIR",
                   help="write per-cycle scalars (accuracy, loss, tau, energy, outages, participants; mean over the "
                        "episodes) here, a run folder per policy")
    _add_progress_arg(p)
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("episode", help="one episode in pictures: paths, outages, predicted vs realised, accuracy; "
                                       "or an animated GIF of the env's map (--gif), two policies side by side")
    _add_env_args(p)
    p.add_argument("--policy", default="ha-sync", help="a baseline name or a saved agent path (default ha-sync)")
    p.add_argument("--seed", type=int, default=10_000, help="env seed of the episode (default 10000)")
    p.add_argument("--plot", default=None, help="PNG to write (default episode.png, none when --gif is given)")
    p.add_argument("--gif", default=None, metavar="PATH",
                   help="write an animated GIF of the episode, one rgb_array frame per cycle")
    p.add_argument("--compare", default=None, metavar="POLICY2",
                   help="with --gif: play this policy too on the same seed, side by side")
    p.add_argument("--fps", type=float, default=2.0, help="GIF frames (cycles) per second (default 2)")
    _add_progress_arg(p)
    p.set_defaults(func=_cmd_episode)

    p = sub.add_parser("compare", help="means with 95%% bootstrap intervals and paired differences against the best "
                                       "baseline, from results JSON of evaluate or run; per-cycle curves")
    p.add_argument("results", nargs="+", help="results JSON files (mel-gym evaluate --json PATH, run's results.json)")
    p.add_argument("--out", default="compare", help="folder for compare.md, compare.csv, compare.json, curves.png "
                                                    "(default: compare)")
    p.add_argument("--level", type=float, default=0.95, help="confidence level of the intervals (default 0.95)")
    p.set_defaults(func=_cmd_compare)

    p = sub.add_parser("sweep", help="train and evaluate a grid or search of envs x scenarios x agents x seeds on Ray "
                                     "Tune, one table with 95%% intervals (needs mel_gym[ray])")
    p.add_argument("config", help=f"sweep config: {', '.join(preset_names('sweeps'))} (configs/sweeps) or a YAML path")
    p.add_argument("--out", default=None, help="output folder (default: the config's out_dir, runs/sweep); must not "
                   "exist unless --overwrite")
    p.add_argument("--overwrite", action="store_true", help="replace the output folder if it exists")
    p.add_argument("--address", default=None, help="Ray cluster address (default: the config's, RAY_ADDRESS, or a "
                   "local Ray)")
    p.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local Ray (default: the config's, else all)")
    p.add_argument("--quick", action="store_true", help="tiny budget (the config's quick section): check the sweep")
    _add_progress_arg(p)
    p.set_defaults(func=_cmd_sweep)

    p = sub.add_parser("rlzoo-tune", help="tune RL Baselines3 Zoo's hyperparameter file of an algorithm with rl-zoo's "
                                          "optuna search, env by env (needs mel_gym[rlzoo])")
    p.add_argument("--algo", required=True, choices=["ppo", "a2c", "sac", "td3"])
    p.add_argument("--env", action="append", default=None, metavar="ENV_ID",
                   help="tune only this env ID (repeatable; default: every env ID of the file)")
    p.add_argument("--file", default=None, help="the rl-zoo file, rewritten with the best trials (default: the "
                   "installed mel_gym/configs/rlzoo/<algo>.yml)")
    p.add_argument("--trials", type=int, default=5, help="optuna trials per env (default 5)")
    p.add_argument("--timesteps", type=int, default=3000, help="training steps per trial (default 3000)")
    p.add_argument("--startup-trials", type=int, default=10, help="random trials before TPE samples and the median "
                   "pruner prunes (rl-zoo's --n-startup-trials; default 10, rl-zoo's)")
    p.add_argument("--seed", type=int, default=0, help="rl-zoo's --seed (training and evaluation envs; default 0)")
    p.add_argument("--env-kwargs", nargs="*", default=[], metavar="KEY:VALUE",
                   help="env keyword arguments in rl-zoo's form (e.g. num_learners:4 horizon_cycles:5)")
    p.add_argument("--out", default="runs/rlzoo-tune", help="folder for the studies and rl-zoo's logs")
    p.set_defaults(func=_cmd_rlzoo_tune)

    p = sub.add_parser("run", help="the main job: train PPO on the default scenario and compare with baselines")
    p.add_argument("--config", default="default",
                   help=f"run config: {', '.join(preset_names('run'))} (configs/run) or a YAML path")
    p.add_argument("--quick", action="store_true",
                   help="tiny budget: check the whole pipeline (about 2 minutes on 2 cores, more on a busy CPU)")
    p.add_argument("--out", default=None, help="output folder (default: the config's out_dir, runs/main); must "
                   "not exist unless --overwrite")
    p.add_argument("--overwrite", action="store_true", help="replace the output folder if it exists")
    p.add_argument("--reuse-agents", action="store_true", help="evaluate the agents a complete earlier run trained in "
                   "the output folder again (no training); the other outputs are replaced")
    p.add_argument("--resume", action="store_true", help="continue a run that was stopped in the output folder: "
                   "complete agents are reused, a stopped one continues from its latest save, the rest are trained")
    p.add_argument("--finish", action="store_true", help="finish a run that was stopped in the output folder without "
                   "training more: each agent is evaluated as trained so far (its latest save; agents never started "
                   "are left out) and every output is written")
    _add_progress_arg(p)
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("headroom", help="the bound test: causal baselines (tuned-constant planners included) beside "
                       "per-episode hindsight, oracle and open-loop bounds, and the headroom between them")
    p.add_argument("--config", default="default",
                   help=f"run config: {', '.join(preset_names('run'))} (configs/run) or a YAML path")
    p.add_argument("--quick", action="store_true", help="a small check: 2 held-out and 2 training seeds, at most 3 "
                   "values per knob in the bound rows")
    p.add_argument("--out", default=None, help="output folder (default runs/headroom-<config>)")
    p.add_argument("--device", default="cpu", help="where the embedded trainer runs: cpu, cuda or auto")
    _add_progress_arg(p)
    p.set_defaults(func=_cmd_headroom)

    p = sub.add_parser("bench", help="measure trainer and vector-env speed against loop baselines, in one run")
    p.add_argument("--quick", action="store_true", help="a reduced run (under 5 minutes on 2 cores)")
    p.add_argument("--json", default=None, help="write the measurements as JSON here")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    p.add_argument("--torch-threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    _add_progress_arg(p)
    p.set_defaults(func=_cmd_bench)

    p = sub.add_parser("reproduce", help="the seed's Fig. 2 (HA-Sync vs equal) or Fig. 3 (joint vs task-/resource-only)")
    p.add_argument("figure", choices=["fig2", "fig3"])
    p.add_argument("--quick", action="store_true",
                   help="MNIST-5k only, 25 cycles (about a minute on an idle 2-core machine)")
    p.add_argument("--dataset", action="append", choices=["mnist5k", "fashion-mnist", "mnist"],
                   help="data set(s) (default: mnist5k, and fashion-mnist when its Debian package is installed)")
    p.add_argument("--seeds", type=int, default=3, help="seeds averaged (default 3)")
    p.add_argument("--cycles", type=int, default=None, help="global cycles (default 150; quick 25)")
    p.add_argument("--seed", type=int, default=0, help="seed i runs on env seed SEED + i")
    p.add_argument("--targets", type=float, nargs="+", default=None, help="accuracy targets (default: the seed's, "
                   "or relative to the best accuracy reached when those are out of reach)")
    p.add_argument("--relative", action="store_true", help="always use targets relative to the best accuracy")
    p.add_argument("--scenario", default=None, help=f"replace the seed's setting with this preset "
                   f"({', '.join(preset_names('scenarios'))}) or YAML (checks)")
    p.add_argument("--env-kwarg", action="append", default=[], metavar="KEY=VALUE",
                   help="override a scenario key or set an env parameter")
    p.add_argument("--sweep", default=None, metavar="KEY=V1,V2,...",
                   help="instead of the figure: each policy's mean tau over --cycles cycles (default 3) for each "
                        "value of one scenario key, and the reductions of cycles that would give if cycles scaled "
                        "with 1/tau (what in the setting drives the figure)")
    p.add_argument("--out", default="runs/reproduce", help="folder of the plots (default runs/reproduce)")
    p.add_argument("--json", default=None, help="write the result as JSON here")
    _add_progress_arg(p)
    p.set_defaults(func=_cmd_reproduce)

    p = sub.add_parser("download", help="download a data set that is not shipped (needs internet)")
    p.add_argument("dataset", choices=["mnist"])
    p.add_argument("--dir", default=None, help="target folder (default $MEL_GYM_DATA/mnist or ~/.cache/mel_gym/mnist)")
    p.set_defaults(func=_cmd_download)

    p = sub.add_parser("scenario", help="list scenario presets and keys, or print a resolved scenario")
    p.add_argument("name", nargs="?", default=None, help=f"preset ({', '.join(preset_names('scenarios'))}) or "
                   "YAML path to print")
    p.set_defaults(func=_cmd_scenario)

    p = sub.add_parser("envs", help="list the env IDs, one line each; their parameters with --details or ENV_ID")
    p.add_argument("env_ids", nargs="*", metavar="ENV_ID", help="print these envs' parameters (default: list the IDs)")
    p.add_argument("--details", action="store_true", help="print every env's parameters")
    p.set_defaults(func=_cmd_envs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        from mel_gym.experiments import progress

        progress.interval()  # a bad MEL_GYM_PROGRESS_EVERY is refused before any work
        progress.configure(enabled=not getattr(args, "no_progress", False))
        args.func(args)
    except (ValueError, FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError) as err:
        print(f"mel-gym {args.command}: error: {err}", file=sys.stderr)  # bad input: one clear line, no traceback
        return 2
    except ModuleNotFoundError as err:
        if "pip install" not in str(err):  # an optional extra that is missing says how to install it
            raise
        print(f"mel-gym {args.command}: error: {err}", file=sys.stderr)
        return 2
    except TypeError as err:
        if "unexpected keyword argument" not in str(err):  # a bug, not bad input: keep the traceback
            raise
        print(f"mel-gym {args.command}: error: {str(err).split(' was raised from')[0]}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:  # train and run say what was saved and the commands that go on
        print(f"mel-gym {args.command}: {getattr(err, 'hint', None) or 'interrupted'}", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
