"""Build stable-baselines3 agents (PPO, A2C, SAC, TD3, sb3-contrib's MaskablePPO) from YAML configs, and load saved
ones.

An agent config (``configs/agents/ppo.yaml``)::

    algo: ppo                 # ppo | a2c | sac | td3 | maskable-ppo
    policy: PerLearnerPolicy  # or MlpPolicy (SB3's)
    total_timesteps: 60000    # default budget of `mel-gym train`
    n_envs: 4                 # parallel envs (one batched env, or SB3's DummyVecEnv)
    normalize: false          # or true, or VecNormalize's arguments: {norm_obs: true, norm_reward: false}
    residual: null            # or {base: expected-value, scale: 2.0, correct: all}: correct a baseline's action
                              # (all of it, or only its movement: correct: mobility; agents/residual.py)
    env_kwargs: {}            # env parameters the agent acts with, over the run's (e.g. action_mode: planner)
    hyperparams:              # keyword arguments of the SB3 class
      learning_rate: 3.0e-4
      policy_kwargs: {log_std_init: -1.5, net_arch: [64, 64], activation_fn: tanh}
      action_noise: 0.1       # (SAC, TD3) a number: Gaussian exploration noise of that std

Unknown keys are errors that name the key and list the allowed ones. With ``normalize``, the running
statistics are saved beside the agent (``vecnormalize.pkl``) and :func:`load_agent` applies them.
"""

from __future__ import annotations

import inspect
import pickle
import re
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch.nn as nn
import yaml
from sb3_contrib import MaskablePPO
from stable_baselines3 import A2C, PPO, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.noise import NormalActionNoise
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from mel_gym.agents.planners import Planner, PlannerAgent
from mel_gym.agents.networks import PerLearnerPolicy
from mel_gym.agents.residual import ResidualAgent, corrected_indices, make_base, residual_settings
from mel_gym.config import ConfigError, read_yaml
from mel_gym.envs.observation import PER_LEARNER_FEATURES
from mel_gym.paths import configs_dir

#: ``maskable-ppo``: sb3-contrib's MaskablePPO, for discrete actions with masks (MultiJob-v0's ``action_masks()``).
ALGOS: dict[str, type[BaseAlgorithm]] = {"ppo": PPO, "a2c": A2C, "sac": SAC, "td3": TD3, "maskable-ppo": MaskablePPO}
ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "elu": nn.ELU, "leaky_relu": nn.LeakyReLU}
TOP_LEVEL_KEYS = ("algo", "policy", "total_timesteps", "n_envs", "normalize", "residual", "env_kwargs", "hyperparams")
#: File of the VecNormalize statistics beside a saved agent.
NORMALIZE_FILE = "vecnormalize.pkl"


def agent_config_path(name_or_path: str | Path) -> Path:
    """``ppo`` -> configs/agents/ppo.yaml; a path is returned as is."""
    text = str(name_or_path)
    preset = configs_dir() / "agents" / f"{text}.yaml"
    return preset if preset.is_file() else Path(text)


def load_agent_config(name_or_path: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    """Read and check an agent config (preset name, YAML path or dict)."""
    config = dict(name_or_path) if isinstance(name_or_path, Mapping) else read_yaml(agent_config_path(name_or_path))
    unknown = sorted(set(config) - set(TOP_LEVEL_KEYS))
    if unknown:
        raise ConfigError(f"unknown agent config key '{unknown[0]}'; allowed keys: {list(TOP_LEVEL_KEYS)}")
    algo = str(config.get("algo", "ppo")).lower()
    if algo not in ALGOS:
        raise ConfigError(f"agent config key 'algo' = {algo!r} is not one of {sorted(ALGOS)}")
    hyper = dict(config.get("hyperparams") or {})
    allowed = set(inspect.signature(ALGOS[algo].__init__).parameters) - {"self", "policy", "env"}
    bad = sorted(set(hyper) - allowed)
    if bad:
        raise ConfigError(f"unknown {algo} hyperparameter 'hyperparams.{bad[0]}'; allowed: {sorted(allowed)}")
    env_kwargs = config.get("env_kwargs") or {}
    if not isinstance(env_kwargs, Mapping):
        raise ConfigError(f"agent config key 'env_kwargs' = {env_kwargs!r} must be a mapping of env parameters")
    for key in ("total_timesteps", "n_envs"):
        value = config.get(key, 1)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"agent config key '{key}' = {value!r} must be an integer >= 1")
    return {
        "algo": algo,
        "policy": config.get("policy", "MlpPolicy"),
        "total_timesteps": int(config.get("total_timesteps", 50_000)),
        "n_envs": int(config.get("n_envs", 1)),
        "normalize": _normalize_kwargs(config.get("normalize", False)),
        "residual": residual_settings(config.get("residual")),
        "env_kwargs": dict(env_kwargs),
        "hyperparams": hyper,
    }


def _normalize_kwargs(value: Any) -> dict[str, Any] | None:
    """The ``normalize`` key as VecNormalize's keyword arguments (None: no normalisation)."""
    if value is False or value is None:
        return None
    if value is True:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"agent config key 'normalize' = {value!r} must be true, false or a mapping of "
                          "VecNormalize arguments")
    allowed = set(inspect.signature(VecNormalize.__init__).parameters) - {"self", "venv"}
    bad = sorted(set(value) - allowed)
    if bad:
        raise ConfigError(f"unknown VecNormalize argument 'normalize.{bad[0]}'; allowed: {sorted(allowed)}")
    return dict(value)


def wrap_normalize(env: VecEnv, config: Mapping[str, Any]) -> VecEnv:
    """``env`` wrapped in VecNormalize when the checked agent config asks for it."""
    kwargs = config.get("normalize")
    return env if kwargs is None else VecNormalize(env, **kwargs)


def _policy_kwargs(raw: Mapping[str, Any] | None) -> dict[str, Any]:
    kwargs = dict(raw or {})
    act = kwargs.get("activation_fn")
    if isinstance(act, str):
        if act not in ACTIVATIONS:
            raise ConfigError(f"hyperparams.policy_kwargs.activation_fn = {act!r} is not one of {sorted(ACTIVATIONS)}")
        kwargs["activation_fn"] = ACTIVATIONS[act]
    return kwargs


def build_agent(
    config: Mapping[str, Any], env: VecEnv, seed: int | None = None, tensorboard_log: str | None = None,
    device: str = "cpu", verbose: int = 0,
) -> BaseAlgorithm:
    """An untrained SB3 agent for ``env`` from a checked config (see :func:`load_agent_config`).

    ``policy: PerLearnerPolicy`` selects :class:`mel_gym.agents.networks.PerLearnerPolicy`; its layout (K learners,
    features per learner, globals) is read from the env's ``problem``.
    """
    config = load_agent_config(config)
    hyper = dict(config["hyperparams"])
    policy_kwargs = _policy_kwargs(hyper.pop("policy_kwargs", None))
    if isinstance(hyper.get("action_noise"), (int, float)):  # a std in YAML -> Gaussian exploration noise
        size = int(np.prod(env.action_space.shape))
        hyper["action_noise"] = NormalActionNoise(np.zeros(size), np.full(size, float(hyper["action_noise"])))
    policy: Any = config["policy"]
    if policy == "PerLearnerPolicy":
        if config["algo"] not in ("ppo", "a2c"):
            raise ConfigError(f"policy PerLearnerPolicy is an actor-critic policy for algo ppo or a2c, not {config['algo']}")
        problem = env.get_attr("problem")[0]
        policy = PerLearnerPolicy
        # the actions the agent itself chooses: the env's, or only its movement under ``residual.correct: mobility``
        actions = int(np.prod(env.action_space.shape))
        corrects_mobility_only = actions == problem.actions.moving_indices().size
        if corrects_mobility_only and problem.actions.has("velocity"):
            raise ConfigError("policy PerLearnerPolicy needs one action per learner, but the agent acts only on the "
                              f"{actions} values after them (agent config key 'residual.correct' = 'mobility' on "
                              "DroneOrchestrator-v0: the drone's velocity); use policy MlpPolicy")
        global_actions = 0 if corrects_mobility_only else problem.actions.global_size
        policy_kwargs.update(
            num_learners=problem.num_learners,
            num_features=len(PER_LEARNER_FEATURES),
            num_globals=len(problem.codec.global_features),
            global_actions=global_actions,
            extra_features=problem.codec.extra_size // problem.num_learners,
        )
    return ALGOS[config["algo"]](
        policy, env, seed=seed, tensorboard_log=tensorboard_log, device=device, verbose=verbose,
        policy_kwargs=policy_kwargs, **hyper,
    )


class MaskedAgent:
    """A saved MaskablePPO agent: ``predict`` passes the action masks of each observation, computed from the
    observation alone (``problem.action_mask(problem.decode(obs))``, what the env's ``action_masks()`` gives), and
    normalises the observation first when the agent was trained on normalised ones."""

    def __init__(self, model: BaseAlgorithm, problem: Any, normalizer: VecNormalize | None = None):
        self.model, self.problem, self.normalizer = model, problem, normalizer
        if normalizer is not None:
            normalizer.training = False

    def predict(self, observation: np.ndarray, state: Any = None, episode_start: np.ndarray | None = None,
                deterministic: bool = True) -> tuple[np.ndarray, Any]:
        obs = np.asarray(observation)
        batch = obs.reshape(-1, obs.shape[-1])
        masks = self.problem.action_mask(self.problem.decode(batch))  # from the raw observations
        seen = batch if self.normalizer is None else self.normalizer.normalize_obs(batch)
        actions, state = self.model.predict(seen, state, episode_start, deterministic, action_masks=masks)
        return (actions[0] if obs.ndim == 1 else actions), state


class NormalizedAgent:
    """A saved agent that was trained on normalised observations: ``predict`` applies the saved statistics."""

    def __init__(self, model: BaseAlgorithm, normalizer: VecNormalize):
        self.model, self.normalizer = model, normalizer
        normalizer.training = False

    def predict(self, observation: np.ndarray, state: Any = None, episode_start: np.ndarray | None = None,
                deterministic: bool = True) -> tuple[np.ndarray, Any]:
        return self.model.predict(self.normalizer.normalize_obs(np.asarray(observation)), state, episode_start,
                                  deterministic)


def load_normalizer(path: str | Path) -> VecNormalize:
    """VecNormalize statistics saved with ``VecNormalize.save`` (no env attached)."""
    with open(path, "rb") as fh:
        return pickle.load(fh)


def load_agent(path: str | Path, device: str = "cpu", problem: Any = None,
               action_space: Any = None) -> BaseAlgorithm | NormalizedAgent | ResidualAgent:
    """Load a saved agent; the algorithm comes from ``run.yaml`` beside it (written by ``mel-gym train``), and
    normalisation statistics from ``vecnormalize.pkl`` beside it, if any. A residual agent (its config has
    ``residual``) needs the env's ``problem`` and ``action_space`` to rebuild its baseline."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no saved agent at '{path}'")
    model = _load_model(path, device)
    stats = saved_normalizer(path)
    normalizer = load_normalizer(stats) if stats is not None else None
    residual = residual_settings(_saved_config(path).get("residual"))
    if residual is not None and (problem is None or action_space is None):
        raise ValueError(f"'{path}' is a residual agent on {residual['base']}: load it with the env's problem and "
                         "action space (make_policy does)")
    agent = playing_agent(model, residual, problem, action_space, normalizer)
    saved = _saved_env_kwargs(path)
    if saved.get("action_mode") == "planner" and problem is not None \
            and getattr(problem, "action_mode", "raw") == "raw":  # a planner-level agent playing the raw action
        planner = Planner(saved.get("planner") or problem.planner_name, problem, action_space,
                          saved.get("planner_levels"))
        agent = PlannerAgent(agent, planner)
    return agent


def playing_agent(model: BaseAlgorithm, residual: dict[str, Any] | None, problem: Any = None, action_space: Any = None,
                  normalizer: VecNormalize | None = None) -> Any:
    """What plays an env for a trained ``model``: the model itself, or wrapped to normalise observations
    (``normalizer``), to pass MaskablePPO the masks of each observation (with the env's ``problem``), or to add a
    residual agent's correction to its baseline (``residual`` settings, the env's problem and action space)."""
    agent: Any = model if normalizer is None else NormalizedAgent(model, normalizer)
    if isinstance(model, MaskablePPO) and problem is not None:
        agent = MaskedAgent(model, problem, normalizer)
    if residual is None:
        return agent
    return ResidualAgent(agent, make_base(residual, problem, action_space), residual["scale"], action_space,
                         corrected_indices(residual["correct"], problem, action_space))


def _run_folder(path: Path) -> Path:
    """The training run folder of a saved agent: beside it, or one level up for a checkpoint
    (``RUN/checkpoints/NAME_STEPS_steps.zip``)."""
    if path.parent.name == "checkpoints" and (path.parent.parent / "run.yaml").is_file():
        return path.parent.parent
    return path.parent


def saved_normalizer(path: Path) -> Path | None:
    """The normalisation statistics saved with an agent: ``vecnormalize.pkl`` beside it, or for a checkpoint the
    statistics of the same step count; None if there are none."""
    steps = re.search(r"_(\d+)_steps\.zip$", path.name) if path.parent.name == "checkpoints" else None
    if steps is not None:
        return next(iter(path.parent.glob(f"*vecnormalize_{steps.group(1)}_steps.pkl")), None)
    stats = path.parent / NORMALIZE_FILE
    return stats if stats.is_file() else None


def _saved_run(path: Path) -> dict[str, Any]:
    """``run.yaml`` of a saved agent's training run ({} without one)."""
    meta = _run_folder(path) / "run.yaml"
    return (yaml.safe_load(meta.read_text()) or {}) if meta.is_file() else {}


def _saved_config(path: Path) -> dict[str, Any]:
    """The agent config recorded in ``run.yaml`` beside a saved agent ({} without one)."""
    return _saved_run(path).get("agent", {})


def _saved_env_kwargs(path: Path) -> dict[str, Any]:
    """The env keyword arguments a saved agent trained with ({} without ``run.yaml``)."""
    return _saved_run(path).get("env_kwargs") or {}


def _load_model(path: Path, device: str) -> BaseAlgorithm:
    if (_run_folder(path) / "run.yaml").is_file():
        config = _saved_config(path)
        # Agents saved before the module was renamed (mel_gym.agents.policies) name PerLearnerPolicy by its old path.
        custom = {"policy_class": PerLearnerPolicy} if config.get("policy") == "PerLearnerPolicy" else None
        return ALGOS[config.get("algo", "ppo")].load(path, device=device, custom_objects=custom)
    errors = []
    for name, cls in ALGOS.items():
        try:
            return cls.load(path, device=device)
        except Exception as err:  # noqa: BLE001 - try the next algorithm, report all if none fits
            errors.append(f"{name}: {err}")
    raise ValueError(f"could not load '{path}' as any of {sorted(ALGOS)}: {errors}")
