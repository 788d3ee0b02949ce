"""Ray RLlib's multi-agent API over mel_gym's multi-agent view (PettingZoo ``ParallelEnv``).

:func:`register_rllib_env` registers, under a name RLlib's ``AlgorithmConfig.environment(name)`` understands, a
creator that builds ``mel_gym.multiagent.parallel_env(env_id, **kwargs)`` and hands it to RLlib through RLlib's own
PettingZoo adapter (``ray.rllib.env.wrappers.pettingzoo_env.ParallelPettingZooEnv``). Nothing in it depends on the
env beyond PettingZoo's parallel API, so every env that ``parallel_env`` builds works: TaskAllocation-v0's learners
(``Box(-1, 1, (B,))`` actions), MultiJob-v0's (``Discrete(J + 1)`` actions), ... :func:`shared_policy_config` then
builds a ``PPOConfig`` in which one policy (one RLModule) acts for, and learns from, every agent: parameter sharing,
the RLlib counterpart of :class:`mel_gym.multiagent.SharedPolicyVecEnv`.

A mel_gym env step trains models, so it is slow: the configs size RLlib's ``sample_timeout_s`` (how long an env
runner's ``sample()`` may take before RLlib drops its samples; RLlib's default 60 s) and
``evaluation_sample_timeout_s`` for steps of up to :data:`STEP_SECONDS` (:func:`sample_timeout_s`), and
:func:`train_iteration` / :func:`env_runner_results` turn an iteration that sampled nothing into a clear error.

Ray is imported only when these functions run; it is an optional extra: ``pip install 'mel_gym[ray]'``. Ray RLlib
2.60 pins ``gymnasium==1.2.2``, so it installs only beside that Gymnasium (the Makefile's compatibility venv).

Example::

    import ray
    from mel_gym.integrations.rllib_multiagent import register_rllib_env, shared_policy_config

    ray.init(num_cpus=2)
    name = register_rllib_env("mel_gym/TaskAllocation-v0", scenario="default", num_learners=3, horizon_cycles=4)
    algo = shared_policy_config(name, seed=0).build_algo()
    result = train_iteration(algo)  # algo.train(), with a clear error if the iteration sampled nothing
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

#: The ID of the one policy (RLModule) every agent maps to in :func:`shared_policy_config`.
SHARED_POLICY_ID = "shared"

_INSTALL_HINT = ("mel_gym.integrations.rllib_multiagent needs Ray RLlib: pip install 'mel_gym[ray]' (ray[rllib]==2.60.0 and "
                 "pettingzoo). Ray RLlib 2.60 pins gymnasium==1.2.2, so install it in an environment with that "
                 "Gymnasium (e.g. the Makefile's .venv-gym1.2.2).")


#: The wall time (s) of one env step that :func:`sample_timeout_s` plans for by default: a mel_gym step trains the
#: learners' models for a whole global cycle, so it is slow next to a game's step. Measured on a 2-core machine at
#: load 7 with one torch thread: 0.004 s (the default scenario), 0.011 s (multihop), 0.2 s (``paper``: 20 learners,
#: the 784-300-124-60-10 network); 2 s leaves ten times that.
STEP_SECONDS = 2.0
#: RLlib's own default ``sample_timeout_s`` (2.60), the least :func:`sample_timeout_s` returns.
RLLIB_SAMPLE_TIMEOUT_S = 60.0


def _require_ray() -> None:
    """Import Ray RLlib, or raise an ImportError that says how to install it."""
    try:
        import ray  # noqa: F401
        import ray.rllib  # noqa: F401
        import ray.tune.registry  # noqa: F401
    except ImportError as error:
        raise ImportError(_INSTALL_HINT) from error


def default_env_name(env_id: str) -> str:
    """The name :func:`register_rllib_env` registers ``env_id`` under by default: ``mel_gym/TaskAllocation-v0`` ->
    ``mel_gym_TaskAllocation-v0_multiagent``."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", env_id) + "_multiagent"


def make_rllib_env(env_id: str = "mel_gym/TaskAllocation-v0", **env_kwargs: Any):
    """``mel_gym.multiagent.parallel_env(env_id, **env_kwargs)`` as an RLlib ``MultiAgentEnv`` (through RLlib's
    ``ParallelPettingZooEnv``). Checks that all agents share one observation space and one action space (what a
    shared policy needs)."""
    _require_ray()
    from ray.rllib.env.wrappers.pettingzoo_env import ParallelPettingZooEnv

    from mel_gym.multiagent import parallel_env

    par = parallel_env(env_id, **env_kwargs)
    agents = list(par.possible_agents)
    if not agents:
        raise ValueError(f"{env_id}: the parallel env has no agents")
    first_obs, first_act = par.observation_space(agents[0]), par.action_space(agents[0])
    for agent in agents[1:]:
        if par.observation_space(agent) != first_obs or par.action_space(agent) != first_act:
            raise ValueError(f"{env_id}: agent {agent!r} has other spaces than {agents[0]!r}; the RLlib adapter "
                             f"expects every agent to share one observation space and one action space")
    env = ParallelPettingZooEnv(par)
    # RLlib's wrapper lists the agents from a set (an order that changes with Python's hash seed): list them in the
    # parallel env's own order instead.
    env.possible_agents = list(agents)
    env.agents = list(agents)
    return env


def register_rllib_env(env_id: str = "mel_gym/TaskAllocation-v0", name: str | None = None,
                       **env_kwargs: Any) -> str:
    """Register ``env_id``'s multi-agent view with Ray Tune's env registry (``ray.tune.registry.register_env``).

    The registered creator takes the ``env_config`` RLlib passes (``AlgorithmConfig.environment(env_config=...)``,
    a dict) and builds :func:`make_rllib_env` ``(env_id, **{**env_kwargs, **env_config})``: the keyword arguments
    given here are defaults that ``env_config`` overrides (``scenario``, ``num_learners``, ``horizon_cycles``, ...
    anything ``gym.make(env_id, ...)`` accepts).

    Args:
        env_id: a mel_gym env ID that ``mel_gym.multiagent.parallel_env`` supports.
        name: the registered name; default :func:`default_env_name` ``(env_id)``.
        **env_kwargs: default keyword arguments of ``parallel_env``.

    Returns:
        The registered name, to pass to ``AlgorithmConfig.environment(name)`` / :func:`shared_policy_config`.
    """
    _require_ray()
    from ray.tune.registry import register_env

    name = name or default_env_name(env_id)
    defaults = dict(env_kwargs)

    def create(env_config: dict | None = None):
        # RLlib passes an EnvContext (a dict that also carries worker_index, vector_index, ...); its items are the
        # user's env_config. One torch thread per env runner: many runners must not oversubscribe the cores.
        import torch

        torch.set_num_threads(1)
        return make_rllib_env(env_id, **{**defaults, **dict(env_config or {})})

    register_env(name, create)
    return name


def _map_to_shared(agent_id: Any, *args: Any, **kwargs: Any) -> str:
    """``policy_mapping_fn``: every agent to the shared policy (a module-level function, so it pickles)."""
    return SHARED_POLICY_ID


def sample_timeout_s(train_batch_size: int, num_env_runners: int = 0, num_envs_per_env_runner: int = 1,
                     step_seconds: float = STEP_SECONDS) -> float:
    """How long RLlib may wait for one ``sample()`` call of an env runner: the steps of one call (RLlib's ``"auto"``
    ``rollout_fragment_length``, ``train_batch_size / (num_envs_per_env_runner x max(num_env_runners, 1))``, times
    the envs of the runner, stepped one after the other) at ``step_seconds`` each, and never less than RLlib's own
    default (:data:`RLLIB_SAMPLE_TIMEOUT_S`). A runner slower than that returns nothing for the iteration (RLlib
    drops its samples), which :func:`env_runner_results` reports."""
    if not step_seconds > 0:
        raise ValueError(f"step_seconds={step_seconds!r}: must be > 0 (the wall time of one env step, in seconds)")
    fragment = math.ceil(train_batch_size / (num_envs_per_env_runner * max(num_env_runners, 1)))
    return max(RLLIB_SAMPLE_TIMEOUT_S, float(step_seconds * fragment * num_envs_per_env_runner))


def ppo_config(name: str, *, env_config: dict | None = None, seed: int | None = None, train_batch_size: int = 128,
               minibatch_size: int = 64, num_epochs: int = 4, lr: float = 3e-4, gamma: float = 0.99,
               hidden: tuple[int, ...] = (64, 64), num_env_runners: int = 0, step_seconds: float = STEP_SECONDS):
    """The small ``PPOConfig`` (RLlib's new API stack) both helpers start from (:func:`shared_policy_config`,
    :func:`mel_gym.integrations.rllib.single_agent_ppo_config`): the env registered as ``name``, one env per env
    runner, sampling and evaluation timeouts sized for env steps of up to ``step_seconds`` (:func:`sample_timeout_s`),
    the module's hidden layers and PPO's SGD settings."""
    _require_ray()
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig

    timeout = sample_timeout_s(train_batch_size, num_env_runners, 1, step_seconds)
    config = (
        PPOConfig()
        .environment(name, env_config=dict(env_config or {}))
        .env_runners(num_env_runners=num_env_runners, num_envs_per_env_runner=1, rollout_fragment_length="auto",
                     sample_timeout_s=timeout)
        .evaluation(evaluation_sample_timeout_s=max(timeout, 120.0))  # 120 s: RLlib's default
        .learners(num_learners=0)
        .rl_module(model_config=DefaultModelConfig(fcnet_hiddens=list(hidden), vf_share_layers=False))
        .training(train_batch_size_per_learner=train_batch_size, minibatch_size=minibatch_size,
                  num_epochs=num_epochs, lr=lr, gamma=gamma)
    )
    return config if seed is None else config.debugging(seed=seed)


def env_runner_results(result: Mapping[str, Any], timeout_s: float | None = None) -> Mapping[str, Any]:
    """The ``env_runners`` part of an RLlib training result, checked: an iteration whose env runners returned no
    samples (they took longer than ``sample_timeout_s``, e.g. on a busy machine) has none, and indexing it would
    raise a bare ``KeyError: 'env_runners'``.

    Raises:
        RuntimeError: the iteration sampled no env steps; says which timeout to raise (``timeout_s``: the config's
            ``sample_timeout_s``, for the message).
    """
    runners = result.get("env_runners") if isinstance(result, Mapping) else None
    if not runners or not runners.get("num_env_steps_sampled"):
        waited = f"sample_timeout_s={timeout_s:g} s" if timeout_s is not None else "sample_timeout_s"
        raise RuntimeError(
            f"RLlib training iteration {result.get('training_iteration', '?')} sampled no env steps (no 'env_runners' "
            f"results): no env runner returned its samples within {waited}. Each mel_gym env step trains the "
            "learners' models, so a busy machine can take longer: pass a larger step_seconds to the config helper "
            "(or .env_runners(sample_timeout_s=...)), or a smaller train_batch_size")
    return runners


def train_iteration(algo: Any) -> dict[str, Any]:
    """``algo.train()``, its result checked with :func:`env_runner_results` (a clear error instead of a
    ``KeyError: 'env_runners'`` when the iteration sampled nothing)."""
    result = algo.train()
    env_runner_results(result, getattr(algo.config, "sample_timeout_s", None))
    return result


def shared_policy_config(name: str, *, env_config: dict | None = None, seed: int | None = None,
                         train_batch_size: int = 128, minibatch_size: int = 64, num_epochs: int = 4,
                         lr: float = 3e-4, gamma: float = 0.99, hidden: tuple[int, ...] = (64, 64),
                         num_env_runners: int = 0, policy_id: str = SHARED_POLICY_ID,
                         mapping_fn: Callable[..., str] | None = None, step_seconds: float = STEP_SECONDS):
    """A ``PPOConfig`` (RLlib's new API stack) on the env registered as ``name`` with ONE policy for all agents.

    Every agent maps to ``policy_id`` (``policy_mapping_fn``), so the one RLModule acts for every agent and its
    Learner updates it from all agents' experience (parameter sharing). The module's spaces are those of the
    agents (they share them: see :func:`make_rllib_env`). The defaults are small (a 128-step batch, sampling in the
    driver process with ``num_env_runners=0``); every returned config can still be changed with RLlib's own
    methods before ``build_algo()``.

    Args:
        name: the name :func:`register_rllib_env` returned.
        env_config: passed to the registered creator (overrides the kwargs given at registration).
        seed: RLlib's ``debugging(seed=...)`` (the env runner seeds the env's resets from it).
        train_batch_size: env steps per training iteration (``train_batch_size_per_learner``).
        minibatch_size, num_epochs, lr, gamma: PPO's SGD settings.
        hidden: the sizes of the module's hidden layers (``fcnet_hiddens``).
        num_env_runners: remote sampling actors (0: sample in the local env runner).
        policy_id: the shared policy's (module's) ID.
        mapping_fn: another ``policy_mapping_fn`` (default: every agent to ``policy_id``; must return it).
        step_seconds: the wall time of one env step the sampling timeouts are sized for (:func:`sample_timeout_s`);
            raise it when an iteration samples nothing on a busy machine (:func:`env_runner_results`).
    """
    _require_ray()
    from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec

    if mapping_fn is None:
        mapping_fn = _map_to_shared if policy_id == SHARED_POLICY_ID else (lambda agent_id, *a, **k: policy_id)
    config = ppo_config(name, env_config=env_config, seed=seed, train_batch_size=train_batch_size,
                        minibatch_size=minibatch_size, num_epochs=num_epochs, lr=lr, gamma=gamma, hidden=hidden,
                        num_env_runners=num_env_runners, step_seconds=step_seconds)
    return (config.multi_agent(policies={policy_id}, policy_mapping_fn=mapping_fn)
            .rl_module(rl_module_spec=MultiRLModuleSpec(rl_module_specs={policy_id: RLModuleSpec()})))
