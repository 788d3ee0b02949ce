"""The ``mel-gym`` command line: train, evaluate, run, bench, reproduce, download, scenario."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from mel_gym.experiments.common import DEFAULT_ENV_ID, parse_env_kwargs


def _add_env_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("env_id", nargs="?", default=DEFAULT_ENV_ID, help=f"Gymnasium env ID (default {DEFAULT_ENV_ID})")
    p.add_argument("--scenario", default=None, help="scenario preset (default, paper) or YAML path")
    p.add_argument("--env-kwarg", action="append", default=[], metavar="KEY=VALUE",
                   help="override a scenario key, dotted for sections, e.g. reward.metric=accuracy (repeatable)")
    p.add_argument("--device", default="cpu", help="torch device of the embedded trainer and the agent: cpu, cuda, auto")


def _cmd_train(args: argparse.Namespace) -> None:
    from mel_gym.experiments.train import train

    result = train(args.env_id, agent=args.agent, scenario=args.scenario, env_kwargs=parse_env_kwargs(args.env_kwarg),
                   timesteps=args.timesteps, n_envs=args.n_envs, seed=args.seed, runs_dir=args.runs_dir,
                   name=args.name, device=args.device, checkpoint_every=args.checkpoint_every,
                   progress_bar=not args.no_progress, vec_env=args.vec_env)
    print(f"trained {result.timesteps} steps in {result.seconds:.0f} s; agent saved to {result.model_path}; "
          f"TensorBoard: tensorboard --logdir {result.run_dir / 'tb'}")


def _cmd_evaluate(args: argparse.Namespace) -> None:
    from mel_gym.experiments.evaluate import evaluate, format_table, plot_accuracy, summarize, write_csv, write_json
    from mel_gym.experiments.common import make_env

    env_kwargs = parse_env_kwargs(args.env_kwarg)
    policies = args.policy or ["equal", "ha-sync", "random"]
    results = evaluate(policies, args.env_id, episodes=args.episodes, seed=args.seed, scenario=args.scenario,
                       env_kwargs=env_kwargs, device=args.device)
    target = make_env(args.env_id, args.scenario, env_kwargs).unwrapped.scenario.target_accuracy
    print(format_table(summarize(results), target))
    if args.json:
        write_json(args.json, results)
    if args.csv:
        write_csv(args.csv, results)
    if args.plot:
        plot_accuracy(args.plot, results, title=args.env_id)


def _cmd_run(args: argparse.Namespace) -> None:
    from mel_gym.experiments.run import run

    run(args.config, quick=args.quick, out_dir=args.out, progress_bar=not args.no_progress)


def _cmd_bench(args: argparse.Namespace) -> None:
    from mel_gym.experiments.bench import format_report, run_bench, write_report

    report = run_bench(quick=args.quick, device=args.device, torch_threads=args.torch_threads)
    print(format_report(report))
    if args.json:
        write_report(args.json, report)


def _cmd_reproduce(args: argparse.Namespace) -> None:
    import json

    from mel_gym.experiments.reproduce import json_payload, reproduce

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
    from mel_gym.paths import scenario_preset_names

    if args.name is None:
        print("presets:", ", ".join(scenario_preset_names()))
        print("\n| key | default | allowed | meaning |\n|---|---|---|---|")
        for key, default, allowed, doc in describe_fields():
            print(f"| `{key}` | {default} | {allowed} | {doc} |")
        return
    print(yaml.safe_dump(scenario_to_dict(load_scenario(args.name)), sort_keys=False))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mel-gym", description="Mobile Edge Learning Gymnasium environments")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train an SB3 agent (TensorBoard logs, checkpoints, progress bar)")
    _add_env_args(p)
    p.add_argument("--agent", default="ppo", help="agent config: ppo, ppo-mlp, a2c, sac (configs/agents) or a YAML path")
    p.add_argument("--timesteps", type=int, default=None, help="env steps (default: the agent config's)")
    p.add_argument("--n-envs", type=int, default=None, help="parallel envs (default: the agent config's)")
    p.add_argument("--vec-env", choices=["native", "dummy"], default="native",
                   help="native: the n envs as one batched simulator (default); dummy: SB3's DummyVecEnv")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--runs-dir", default="runs", help="parent folder of the run (default runs/)")
    p.add_argument("--name", default=None, help="run folder name (default ALGO-ENV-TIMESTAMP)")
    p.add_argument("--checkpoint-every", type=int, default=10_000, help="env steps between checkpoints (0: none)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("evaluate", help="compare saved agents and baselines on the same held-out seeds")
    _add_env_args(p)
    p.add_argument("--policy", action="append", default=[],
                   help="equal, ha-sync, random, or a saved agent path (repeatable; default: the three baselines)")
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--seed", type=int, default=10_000, help="episode i uses env seed SEED + i")
    p.add_argument("--json", default=None, help="write per-episode results as JSON here")
    p.add_argument("--csv", default=None, help="write per-episode results as CSV here")
    p.add_argument("--plot", default=None, help="write a PNG of test accuracy per global cycle here")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("run", help="the main job: train PPO on the default scenario and compare with baselines")
    p.add_argument("--config", default="default", help="run config under configs/run or a YAML path")
    p.add_argument("--quick", action="store_true", help="tiny budget: check the whole pipeline in about a minute")
    p.add_argument("--out", default=None, help="output folder (default: the config's out_dir, runs/main)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("bench", help="measure trainer and vector-env speed against loop baselines, in one run")
    p.add_argument("--quick", action="store_true", help="a reduced run (under 5 minutes on 2 cores)")
    p.add_argument("--json", default=None, help="write the measurements as JSON here")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    p.add_argument("--torch-threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    p.set_defaults(func=_cmd_bench)

    p = sub.add_parser("reproduce", help="the seed's Fig. 2 (HA-Sync vs equal) or Fig. 3 (joint vs task-/resource-only)")
    p.add_argument("figure", choices=["fig2", "fig3"])
    p.add_argument("--quick", action="store_true", help="MNIST-5k only, 25 cycles (under 5 minutes on 2 cores)")
    p.add_argument("--dataset", action="append", choices=["mnist5k", "fashion-mnist", "mnist"],
                   help="data set(s) (default: mnist5k, and fashion-mnist when its Debian package is installed)")
    p.add_argument("--seeds", type=int, default=3, help="seeds averaged (default 3)")
    p.add_argument("--cycles", type=int, default=None, help="global cycles (default 60, quick 25)")
    p.add_argument("--seed", type=int, default=0, help="seed i runs on env seed SEED + i")
    p.add_argument("--targets", type=float, nargs="+", default=None, help="accuracy targets (default: the seed's, "
                   "or relative to the best accuracy reached when those are out of reach)")
    p.add_argument("--relative", action="store_true", help="always use targets relative to the best accuracy")
    p.add_argument("--scenario", default=None, help="replace the seed's setting with this preset or YAML (checks)")
    p.add_argument("--env-kwarg", action="append", default=[], metavar="KEY=VALUE", help="override a scenario key")
    p.add_argument("--out", default="runs/reproduce", help="folder of the plots (default runs/reproduce)")
    p.add_argument("--json", default=None, help="write the result as JSON here")
    p.set_defaults(func=_cmd_reproduce)

    p = sub.add_parser("download", help="download a data set that is not shipped (needs internet)")
    p.add_argument("dataset", choices=["mnist"])
    p.add_argument("--dir", default=None, help="target folder (default $MEL_GYM_DATA/mnist or ~/.cache/mel_gym/mnist)")
    p.set_defaults(func=_cmd_download)

    p = sub.add_parser("scenario", help="list scenario presets and keys, or print a resolved scenario")
    p.add_argument("name", nargs="?", default=None, help="preset name or YAML path to print")
    p.set_defaults(func=_cmd_scenario)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (ValueError, FileNotFoundError) as err:  # bad input: one clear line, no traceback
        print(f"mel-gym {args.command}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
