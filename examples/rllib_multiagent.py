"""Train one PPO policy shared by every agent of a mel_gym multi-agent env with Ray RLlib (a short smoke run).

Every learner of the env (``mel_gym.multiagent.parallel_env(env_id, ...)``, a PettingZoo ``ParallelEnv``) is an RLlib
agent; all agents map to one policy, which learns from all of their experience. Per training iteration the script
prints RLlib's mean episode return (``env_runners/episode_return_mean``: the sum over the agents' returns, so K
times the team's return when every agent gets the team reward), the mean per-agent return and the env steps
sampled.

Needs Ray RLlib, which pins gymnasium==1.2.2 (``pip install 'mel_gym[ray]'`` in such an environment, e.g. the
Makefile's ``.venv-gym1.2.2``)::

    .venv-gym1.2.2/bin/python examples/rllib_multiagent.py --iterations 2
"""

from __future__ import annotations

import argparse
import math
import time


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env-id", default="mel_gym/TaskAllocation-v0", help="a mel_gym env ID with a multi-agent view")
    parser.add_argument("--scenario", default="default", help="scenario name or YAML path (default: %(default)s)")
    parser.add_argument("--iterations", type=int, default=2, help="RLlib training iterations (default: %(default)s)")
    parser.add_argument("--num-learners", type=int, default=3, help="learners = agents (default: %(default)s)")
    parser.add_argument("--horizon-cycles", type=int, default=4, help="cycles per episode (default: %(default)s)")
    parser.add_argument("--samples-per-cycle", type=int, default=400,
                        help="data samples per cycle (default: %(default)s)")
    parser.add_argument("--batch", type=int, default=128, help="env steps per iteration (default: %(default)s)")
    parser.add_argument("--num-cpus", type=int, default=2, help="CPUs given to ray.init (default: %(default)s)")
    parser.add_argument("--torch-threads", type=int, default=1,
                        help="torch CPU threads of this process (the env's FL trainer and RLlib's local learner); more "
                             "than 1 slows the tiny models down badly on a busy machine (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0,
                        help="RLlib's seed (a run repeats exactly only with PYTHONHASHSEED fixed too: RLlib 2.60 "
                             "iterates sets of agent IDs); default: %(default)s")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        import ray
    except ImportError:
        raise SystemExit("this example needs Ray RLlib: pip install 'mel_gym[ray]' (RLlib 2.60 pins "
                         "gymnasium==1.2.2: use e.g. the Makefile's .venv-gym1.2.2)") from None
    import torch

    from mel_gym.integrations.rllib_multiagent import register_rllib_env, shared_policy_config, train_iteration

    torch.set_num_threads(args.torch_threads)
    ray.init(num_cpus=args.num_cpus, include_dashboard=False, log_to_driver=False)
    try:
        name = register_rllib_env(args.env_id, scenario=args.scenario, num_learners=args.num_learners,
                                  horizon_cycles=args.horizon_cycles, samples_per_cycle=args.samples_per_cycle)
        config = shared_policy_config(name, seed=args.seed, train_batch_size=args.batch,
                                      minibatch_size=max(1, args.batch // 2))
        algo = config.build_algo()
        print(f"{args.env_id} ({name}): {args.num_learners} agents -> policies {sorted(config.policies)}")
        try:
            for _ in range(args.iterations):
                start = time.perf_counter()
                result = train_iteration(algo)  # a clear error, not KeyError 'env_runners', if nothing was sampled
                runners = result["env_runners"]
                agent_returns = list(runners.get("agent_episode_returns_mean", {}).values())
                per_agent = sum(agent_returns) / len(agent_returns) if agent_returns else math.nan
                print(f"iteration {result['training_iteration']}: "
                      f"episode_return_mean={runners.get('episode_return_mean', math.nan):.4f} "
                      f"(per agent {per_agent:.4f}), "
                      f"episodes={runners.get('num_episodes', 0)}, "
                      f"env_steps_sampled={runners.get('num_env_steps_sampled', 0)} "
                      f"(lifetime {result.get('num_env_steps_sampled_lifetime', 0):.0f}), "
                      f"{time.perf_counter() - start:.1f} s")
        finally:
            algo.stop()
    finally:
        ray.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
