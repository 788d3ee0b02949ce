"""PettingZoo ``ParallelEnv`` over a mel_gym env: every learner is an agent (see :mod:`mel_gym.multiagent`).

Agent ``learner_k`` observes its own row of the per-learner features (the 14 blocks of the env's observation, in
their order, :data:`mel_gym.envs.observation.PER_LEARNER_FEATURES`) followed by the env's globals: ``Box(float32,
(14 + G,))``; it acts with its value of each of the env's B action blocks: ``Box(-1, 1, (B,))`` (TaskAllocation-v0:
B = 1, its share value). MultiJob-v0: the agent sees the world's 14 features, its 3J job features (holding, log
capacity, served last cycle, per job), then the world's 3 and the jobs' 3J globals, ``Box(float32, (17 + 6J,))``,
and picks ``Discrete(J + 1)`` (0: idle, j + 1: job j); its info holds ``action_mask`` ((J + 1,) bool, also
:meth:`LearnerParallelEnv.action_mask`): a choice it may not make idles the learner. SplitChain-v0: the agent sees
its world features, memory, neighbours and their rates, then the globals and the stages' features, and picks its slot
``Discrete(1 + C S)`` (masked likewise; the chains share the samples equally). Every env's split of the observation
and of the action comes from its problem (:meth:`agent_observations`, :attr:`learner_choices`,
:meth:`action_from_choices`): the view has no per-env code. All agents act every cycle and
get the env's (team) reward; the episode ends for all at once. ``state()`` is the env's whole observation
(``state_space``), for centralised critics. Per-agent infos carry the learner's task size, participation and finish
(and job), and the cycle's tau, test and validation accuracy and loss and team reward parts.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from mel_gym.envs.observation import PER_LEARNER_FEATURES
from mel_gym.registration import ENV_IDS

#: Per-learner info entries copied to each agent's info (the rest of the env's info is per cycle, shared).
AGENT_INFO_KEYS = ("task_sizes", "participants", "stragglers", "outage", "energy_j", "time_s", "assignment", "chain_of",
                   "first_stage")
CYCLE_INFO_KEYS = ("cycle", "tau", "test_accuracy", "test_loss", "val_accuracy", "val_loss", "reward_lql",
                   "reward_tau_bonus")


def agent_name(k: int) -> str:
    return f"learner_{k}"


class LearnerParallelEnv(ParallelEnv):
    """Every learner of ``env_id`` is an agent (see the module docstring).

    Args:
        env_id: a mel_gym env ID whose action is ``Box(-1, 1, (B K,))`` (blocks of K values).
        scenario, render_mode, **kwargs: as ``gym.make(env_id, ...)``.
    """

    metadata = {"name": "mel_gym_learners_v0", "render_modes": ["ansi", "rgb_array"], "is_parallelizable": True}

    def __init__(self, env_id: str = "mel_gym/TaskAllocation-v0", scenario: Any = None,
                 render_mode: str | None = None, **kwargs: Any):
        if env_id not in ENV_IDS:
            raise ValueError(f"unknown env ID {env_id!r}: choose one of {sorted(ENV_IDS)}")
        self.env = gym.make(env_id, scenario=scenario, render_mode=render_mode, **kwargs).unwrapped
        self.env_id, self.render_mode = env_id, render_mode
        problem = self.env.problem
        if getattr(problem, "amount_action", False):  # also under action_mode="planner", whose planner sets it
            raise ValueError(f"{env_id}: the multi-agent view splits the action between the learners, but the amount "
                             "(amount_action=True) and the planner's knobs (action_mode='planner') are one decision "
                             "of the orchestrator for all of them; use the single or vector env for those")
        K = self.num_learners = problem.num_learners
        space = self.env.action_space
        self.layout = layout = problem.actions  # the action's declared blocks
        self.choices = problem.learner_choices  # MultiJob-v0: idle or a job; SplitChain-v0: idle or a chain slot
        if self.choices:
            self.blocks = 1
            agent_space: spaces.Space = spaces.Discrete(self.choices)
        elif isinstance(space, spaces.Box) and layout.global_size == 0:
            self.blocks = layout.values_per_learner  # the learner's value of each per-learner block, in order
            agent_space = spaces.Box(-1.0, 1.0, shape=(self.blocks,), dtype=np.float32)
        else:
            raise ValueError(f"{env_id}: the multi-agent view needs an action of blocks of K values (one per learner) "
                             f"or one choice per learner, not {space}")
        self.num_features = len(PER_LEARNER_FEATURES)
        self.state_space = self.env.observation_space
        low, high = self._split(self.state_space.low), self._split(self.state_space.high)
        self.possible_agents = [agent_name(k) for k in range(K)]
        self.agents: list[str] = []
        self._observation_spaces = {a: spaces.Box(low[k], high[k], dtype=np.float32)
                                    for k, a in enumerate(self.possible_agents)}
        self._action_spaces = {a: agent_space for a in self.possible_agents}
        self._state: np.ndarray | None = None

    # ------------------------------------------------------------------------------------------ spaces
    def observation_space(self, agent: str) -> spaces.Box:
        return self._observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Box:
        return self._action_spaces[agent]

    def _split(self, obs: np.ndarray) -> np.ndarray:
        """(K, per-agent size): every agent's observation (the problem's :meth:`agent_observations`)."""
        return self.env.problem.agent_observations(obs)

    def _joint_action(self, actions: dict[str, Any]) -> np.ndarray:
        """The env's action from the agents' (a missing agent: -1 values, no share, no part; or 0, idle)."""
        K, B = self.num_learners, self.blocks
        if self.choices:
            joint = np.zeros(K, dtype=np.int64)
            meaning = self.layout.per_learner_blocks[0].doc
            for k, agent in enumerate(self.possible_agents):
                if agent in actions:
                    value = np.asarray(actions[agent]).reshape(-1)
                    if (value.size != 1 or not float(value[0]).is_integer()
                            or not self.action_space(agent).contains(np.int64(value[0]))):
                        raise ValueError(f"action of {agent} is {actions[agent]!r}: expected an integer in "
                                         f"[0, {self.choices - 1}] ({meaning})")
                    joint[k] = int(value[0])
            return self.env.problem.action_from_choices(joint)
        joint = np.full(self.layout.size, -1.0, dtype=np.float32)
        for k, agent in enumerate(self.possible_agents):
            if agent in actions:
                value = np.asarray(actions[agent], dtype=np.float32).reshape(-1)
                if value.shape != (B,):
                    raise ValueError(f"action of {agent} has shape {value.shape}, expected ({B},) values in [-1, 1]")
                joint[self.layout.learner_indices(k)] = value
        return joint

    def action_mask(self, agent: str) -> np.ndarray:
        """MultiJob-v0: (J + 1,) bool, SplitChain-v0: (1 + C S,) bool, the choices ``agent`` may make this cycle (also
        in its info)."""
        if not self.choices:
            raise ValueError(f"{self.env_id} has no action masks (every value of a Box action is allowed)")
        k = self.possible_agents.index(agent)
        K = self.num_learners
        return self.env.action_masks()[: K * self.choices].reshape(K, self.choices)[k]

    # ------------------------------------------------------------------------------------------ episode
    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        obs, info = self.env.reset(seed=seed, options=options)
        self.agents = self.possible_agents[:]
        self._state = obs
        rows = self._split(obs)
        cycle = {k: info[k] for k in CYCLE_INFO_KEYS if k in info}
        return {a: rows[k] for k, a in enumerate(self.agents)}, {a: self._with_mask(dict(cycle), a) for a in self.agents}

    def _with_mask(self, info: dict[str, Any], agent: str) -> dict[str, Any]:
        if self.choices:
            info["action_mask"] = self.action_mask(agent)
        return info

    def step(self, actions: dict[str, np.ndarray]) -> tuple[dict, dict, dict, dict, dict]:
        """One cycle: every live agent's values (a missing agent's values are -1: no share, no part)."""
        unknown = set(actions) - set(self.agents)
        if unknown:
            raise ValueError(f"actions for agents that are not live: {sorted(unknown)}; live: {self.agents}")
        obs, reward, terminated, truncated, info = self.env.step(self._joint_action(actions))
        self._state = obs
        rows = self._split(obs)
        live = self.agents
        cycle = {k: info[k] for k in CYCLE_INFO_KEYS if k in info}
        infos = {a: self._with_mask({**cycle, **{key: np.asarray(info[key])[k].item() for key in AGENT_INFO_KEYS
                                                 if key in info}}, a)
                 for k, a in enumerate(self.possible_agents) if a in live}
        out = ({a: rows[k] for k, a in enumerate(self.possible_agents) if a in live},
               {a: float(reward) for a in live}, {a: bool(terminated) for a in live},
               {a: bool(truncated) for a in live}, infos)
        if terminated or truncated:
            self.agents = []
        return out

    def state(self) -> np.ndarray:
        """The env's whole observation of the coming cycle (``state_space``)."""
        if self._state is None:
            raise RuntimeError("call reset() before state()")
        return self._state

    def render(self) -> Any:
        return self.env.render()

    def close(self) -> None:
        self.env.close()


def parallel_env(env_id: str = "mel_gym/TaskAllocation-v0", **kwargs: Any) -> LearnerParallelEnv:
    """PettingZoo's constructor convention: ``mel_gym.multiagent.parallel_env(env_id, scenario=..., ...)``."""
    return LearnerParallelEnv(env_id, **kwargs)
