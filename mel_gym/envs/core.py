"""An env is a small core plus its own parameters; this module has what every core shares.

A core is batched over ``n_envs`` worlds of one :class:`~mel_gym.simulation.MELSimulator` and declares

- ``params_class``: its parameter dataclass (:mod:`mel_gym.envs.params`), built from keyword arguments;
- :meth:`EnvCore.build_action_space`: its raw action, a Gymnasium space (Box, Discrete, MultiDiscrete, MultiBinary,
  or a Dict of them: a batch of Dict actions is a dict of batched arrays, :mod:`mel_gym.envs.batching`), ending
  with the amount (the fraction of the cycle's samples to process) where :attr:`BaseCore.has_amount`;
- :meth:`EnvCore.validate`: checks a batch of actions before any state changes (``ValueError`` naming the index);
- :meth:`BaseCore.raw_noop_action`: the action with which nobody trains (used for sub-envs about to reset);
- :meth:`EnvCore.decide`: actions (without the amount) and the samples each plan hands out ->
  :class:`~mel_gym.simulation.Decision`;
- :attr:`BaseCore.planner_name`: the baseline that turns planner-level actions (``action_mode="planner"``: a few
  knobs, :mod:`mel_gym.agents.planners`) into raw actions;
- optionally its observation (:meth:`EnvCore.build_observation_space`, :meth:`EnvCore.observe`) and reward
  (:meth:`EnvCore.reward`), which default to the shared ones.

The base class runs the simulator, the episode ends and the info. :class:`mel_gym.envs.env.MELEnv` (one env) and :class:`mel_gym.envs.vector.MELVectorEnv`
(N envs) are generic over the core: adding an env is one module (core, params, env class) and one line in
:data:`mel_gym.registration.ENV_IDS`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Mapping, Sequence

import numpy as np
import torch
from gymnasium import spaces

from mel_gym.config import Scenario, load_scenario
from mel_gym.envs.action_blocks import ActionBlock, ActionLayout, Amount, DecodeContext, Effort, Shares
from mel_gym.envs.action_maps import (action_from_level, effort_from_action, fraction_from_action,
                                      samples_from_fraction, validate_action)
from mel_gym.envs.batching import check_batch
from mel_gym.envs.observation import ObservationCodec, WorldSnapshot, bounded_loss, loss_bound_nats
from mel_gym.envs.params import EnvParams, ShareParams, build_params, check_terminate
from mel_gym.envs.problem import AllocationProblem, Mobility
from mel_gym.optim.task_sizing import relaxed_task_sizes
from mel_gym.simulation import Decision, MELSimulator, Outcome
from mel_gym.world.costs import CostModel, feasible_iterations
from mel_gym.schema import ConfigError
from mel_gym.world.state import World

#: beta of the log-capacity feature for envs without a share action.
DEFAULT_FEATURE_BETA = 3.0


class BaseCore:
    """What :class:`~mel_gym.envs.env.MELEnv` and :class:`~mel_gym.envs.vector.MELVectorEnv` need of a core of
    ``n_envs`` worlds: its parameters, spaces and problem, and batched reset, observe and step. :class:`EnvCore`
    implements it over one job's simulator; MultiJob-v0's core over several jobs' (:mod:`mel_gym.envs.multijob`)."""

    params_class: ClassVar[type[EnvParams]] = EnvParams
    default_scenario: ClassVar[str] = "default"
    #: the blocks of the raw action before the amount and the effort (:mod:`mel_gym.envs.action_blocks`)
    blocks: ClassVar[tuple[ActionBlock, ...]] = ()
    n_envs: int
    scenario: Scenario
    params: EnvParams
    problem: Any
    layout: ActionLayout
    observation_space: spaces.Space
    action_space: spaces.Space

    #: the env's planner (``action_mode="planner"``): a baseline of :mod:`mel_gym.agents` with planner knobs
    planner_name: ClassVar[str] = "ha-sync-fraction"
    #: the amount is a level of a discrete action (MultiBinary/MultiDiscrete envs), not a value in [-1, 1]
    discrete_amount: ClassVar[bool] = False
    #: the raw action can end with the effort (env parameter ``effort_action``): Box-action cores only
    supports_effort: ClassVar[bool] = False
    #: the reward can pay the jobs' values (``reward.metric: value``): MultiJob-v0 only
    pays_values: ClassVar[bool] = False
    planner: Any = None

    @property
    def active_planner(self) -> str:
        """The planner of ``action_mode="planner"``: the env parameter ``planner``, or the core's :attr:`planner_name`."""
        return self.params.planner or self.planner_name

    @property
    def predictor(self) -> Any:
        """The simulator's outage predictor (:class:`~mel_gym.world.prediction.OutagePredictor`)."""
        return self.sim.predictor

    @property
    def mobile_orchestrator(self) -> bool:
        """The orchestrator flies (a drone): the observation adds its position, velocity and battery."""
        return self.layout.has("velocity")

    def action_blocks(self) -> tuple[ActionBlock, ...]:
        """The env's own action blocks (before the amount and the effort); :attr:`blocks` unless they depend on the
        env's parameters."""
        return self.blocks

    def action_layout(self, amount_count: int = 1) -> ActionLayout:
        """The raw action's layout: :meth:`action_blocks`, then the amount (``amount_count`` values) where
        :attr:`has_amount`, then the effort where the env parameter ``effort_action`` is set."""
        tail = ((Amount(amount_count),) if self.has_amount else ()) + ((Effort(),) if self.params.effort_action else ())
        return ActionLayout(self.action_blocks() + tail, self.scenario.num_learners)

    @property
    def has_amount(self) -> bool:
        """The raw action ends with the amount: with ``amount_action``, and under any planner (which sets it)."""
        return bool(self.params.amount_action or self.params.action_mode == "planner")

    def samples_from_amount(self, amount: np.ndarray, samples_per_cycle: int | np.ndarray) -> np.ndarray:
        """The samples n = max(1, round(f d)) each plan hands out for amount values (a value in [-1, 1], or a
        discrete level) of the same shape; ``samples_per_cycle`` d broadcasts against them."""
        value = action_from_level(amount, self.params.fraction_levels) if self.discrete_amount else amount
        return samples_from_fraction(fraction_from_action(value, self.params.min_fraction), samples_per_cycle)

    def attach_planner(self) -> None:
        """Under ``action_mode="planner"``: build the env's planner (:attr:`planner_name`, from the problem) and make
        its knob space the action space; the raw space stays in ``raw_action_space``."""
        self.raw_action_space = self.action_space
        if self.params.action_mode == "planner":
            from mel_gym.agents.planners import Planner  # the planners are baselines: built on demand only

            self.planner = Planner(self.active_planner, self.problem, self.raw_action_space,
                                   self.params.planner_levels)
            self.action_space = self.planner.action_space

    def planned(self, actions: Any) -> Any:
        """The raw actions of a batch: the actions themselves, or under a planner what its knobs plan for the coming
        cycle's observations (knobs checked first: ``ValueError`` naming the index; no state has changed)."""
        if self.planner is None:
            return actions
        return self.planner.raw_actions(actions, self.observe())

    def check_shape(self, actions: Any) -> Any:
        """``actions`` batched over the n_envs envs, shapes checked (:func:`mel_gym.envs.batching.check_batch`) after
        the one action type rule of every env: arrays of real numbers (:func:`mel_gym.envs.batching.real_array`;
        ``ValueError`` naming the index, before any state changes)."""
        return check_batch(self.action_space, actions, self.n_envs)

    def noop_action(self) -> Any:
        """A single action with which nobody takes part (no training, no cost); under a planner its middle knobs
        (the vector env plays it in sub-envs about to be reset, whose cycle is then discarded)."""
        if self.planner is not None:
            return self.planner.middle_action()
        return self.raw_noop_action()

    def raw_noop_action(self) -> Any:  # pragma: no cover - abstract
        """A single raw action with which nobody takes part."""
        raise NotImplementedError

    def reset(self, seeds: Sequence[int | np.random.SeedSequence], env_ids: Sequence[int] | None = None) -> None:
        """Start fresh episodes in ``env_ids`` (default: all), one seed each."""
        raise NotImplementedError  # pragma: no cover - abstract

    def observe(self) -> np.ndarray:  # pragma: no cover - abstract
        """(n_envs, obs size) float32 observation of the coming cycle."""
        raise NotImplementedError

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """One cycle in every env: (obs, reward, terminated, truncated, info), all batched over envs."""
        raise NotImplementedError  # pragma: no cover - abstract

    def reset_info(self) -> dict[str, np.ndarray]:  # pragma: no cover - abstract
        """The batched info of a reset."""
        raise NotImplementedError


class EnvCore(BaseCore):
    """Batched env logic over a :class:`MELSimulator` of ``n_envs`` worlds (see the module docstring)."""

    def __init__(self, scenario: Scenario, params: EnvParams, n_envs: int = 1, device: str | torch.device = "cpu"):
        check_terminate(params, scenario.target_accuracy)
        self.check_scenario(scenario)
        self.scenario, self.params = scenario, params
        self.sim = MELSimulator(scenario, n_envs=n_envs, device=device)
        self.n_envs = n_envs
        s = scenario
        self.layout = self.action_layout()
        self.problem = self.build_env_problem()
        self.observation_space = self.build_observation_space()
        self.action_space = self.build_action_space()
        self.attach_planner()
        self.previous_share = np.zeros((n_envs, s.num_learners))
        self.loss_history = np.zeros((n_envs, s.drift.history_cycles if s.drift.enabled else 0))
        self.reference_tau = s.max_local_iterations / 4.0  # tau_ref of the log-capacity feature
        self.phase_energy_j = np.zeros(n_envs)  # spent before the cycle (a redistribution phase), J

    # ------------------------------------------------------------------------------------------------ per env
    #: the env runs the scenario's redistribution phase (TaskAllocation-v0)
    supports_redistribution: ClassVar[bool] = False

    def check_scenario(self, scenario: Scenario) -> None:
        """Raise :class:`~mel_gym.schema.ConfigError` (naming the key) where the env cannot run on ``scenario``;
        called before anything is built. By default every scenario fits except one with a redistribution phase in
        an env that does not run it."""
        if scenario.redistribution.enabled and not self.supports_redistribution:
            raise ConfigError(f"scenario key 'redistribution.enabled' = true: {type(self).__name__} has no "
                              "redistribution phase; use mel_gym/TaskAllocation-v0")

    def build_env_problem(self) -> Any:
        """The env's public side (what its baselines know): the world's :class:`AllocationProblem` unless a core
        adds to it (SplitChain-v0's :class:`~mel_gym.envs.chain_problem.ChainProblem`)."""
        return self.world_problem()

    def world_problem(self) -> AllocationProblem:
        """The world's :class:`AllocationProblem` over this core's simulator, action layout and parameters."""
        s, sim, params = self.scenario, self.sim, self.params
        return build_problem(s, sim.world, sim.cost, params, sim.trainer.num_classes,
                             max(s.samples_per_cycle, sim.trainer.num_train_samples),
                             getattr(params, "action_beta", None), self.layout, self.discrete_amount,
                             self.active_planner)

    def build_action_space(self) -> spaces.Space:  # pragma: no cover - abstract
        """The single env's raw action space (with the amount last where :attr:`has_amount`)."""
        raise NotImplementedError

    def validate(self, actions: Any) -> Any:  # pragma: no cover - abstract
        """Check a batch of raw actions (n_envs, *action shape), shapes already checked; return them ready for
        :meth:`split_amount` and :meth:`decide`.

        Raises:
            ValueError: naming the offending index and the allowed values; no state has changed.
        """
        raise NotImplementedError

    def split_amount(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(the validated actions without their amount and effort, the samples n (n_envs,) each env's plan hands
        out: d where the action has no amount, the effort u (n_envs,): 1 where the action has none)."""
        d = self.scenario.samples_per_cycle
        effort = np.ones(self.n_envs)
        if self.params.effort_action:
            actions, effort = actions[:, :-1], effort_from_action(actions[:, -1])
        if not self.has_amount:
            return actions, np.full(self.n_envs, d, dtype=np.int64), effort
        return actions[:, :-1], self.samples_from_amount(actions[:, -1], d), effort

    def decide(self, actions: Any, samples: np.ndarray) -> Decision:  # pragma: no cover - abstract
        """The Decision that validated ``actions`` (without the amount) map to, each env's plan handing out
        ``samples`` (n_envs,) of the cycle's samples."""
        raise NotImplementedError

    def reported_tau(self, decision: Decision) -> np.ndarray:
        """(n_envs,) the tau of the info: the common tau in synchronous MEL."""
        return decision.local_iterations.max(axis=1)

    def decision_info(self, decision: Decision) -> dict[str, np.ndarray]:
        """Env-specific info entries (batched)."""
        return {}

    def outcome_info(self, out: Outcome) -> dict[str, np.ndarray]:
        """Env-specific info entries from the cycle's outcome (batched): nothing by default."""
        return {}

    def after_cycle(self, actions: Any) -> dict[str, np.ndarray]:
        """What the action does between this cycle and the next (a drone's flight, learners' moves), after the
        simulator ran the cycle; returns env-specific info entries (batched). Nothing by default."""
        return {}

    def ended(self) -> np.ndarray:
        """(n_envs,) bool: episodes that end for an env-specific reason (a drone's empty battery)."""
        return np.zeros(self.n_envs, dtype=bool)

    def build_observation_space(self) -> spaces.Box:
        """The single env's observation space: its problem's feature blocks' (:mod:`mel_gym.envs.features`)."""
        return self.problem.layout.space()

    # ------------------------------------------------------------------------------------------------ shared
    def decode_context(self, samples: np.ndarray, available: np.ndarray | None = None) -> DecodeContext:
        """What the action blocks need to become a decision (:class:`~mel_gym.envs.action_blocks.DecodeContext`):
        the ``available`` learners (default: every learner that can take part), their CPUs, the ``samples``
        (n_envs,) the plans hand out and the task caps."""
        sim = self.sim
        available = sim.world.available if available is None else available
        return DecodeContext(available=available, cpu_hz=sim.world.cpu_available_hz(), samples=samples,
                             task_caps=sim.task_caps)

    def iteration_limits(self, task_sizes: np.ndarray, tx_power_w: np.ndarray | None = None,
                         bandwidth_hz: np.ndarray | None = None, cpu_hz: np.ndarray | None = None) -> np.ndarray:
        """(n_envs, K) the most local iterations each learner can run with these tasks and resources: within
        the deadline and, where there is one, the energy cap and the remaining battery (-1: not even the
        model exchange fits; ``max_local_iterations`` for learners without a task)."""
        s, sim = self.scenario, self.sim
        return feasible_iterations(sim.coefficients(tx_power_w, bandwidth_hz, cpu_hz), task_sizes,
                                   sim.cost.cycle_deadline_s, s.max_local_iterations,
                                   sim.energy_budget(tx_power_w, bandwidth_hz, cpu_hz))

    def world_snapshot(self) -> WorldSnapshot:
        """What the orchestrator knows of the coming cycle (the world blocks' source,
        :class:`~mel_gym.envs.observation.WorldSnapshot`)."""
        sim = self.sim
        world, st = sim.world, sim.world.state
        capacity = relaxed_task_sizes(sim.coefficients(), sim.cost.cycle_deadline_s, self.reference_tau)
        rate_down, rate_up = world.rates_bps()
        outage, drop = self.predictor.predict()
        return WorldSnapshot(
            rate_down_bps=rate_down, rate_up_bps=rate_up, cpu_hz=world.cpu_available_hz(), capacity=capacity,
            battery_j=st.battery_j, position_m=st.position_m, previous_share=self.previous_share,
            task_caps=sim.task_caps, velocity_mps=st.velocity_mps, in_coverage=world.in_coverage,
            outage_probability=outage, compute_drop_probability=drop, cycle=st.cycle, val_loss=sim.loss,
            val_accuracy=sim.accuracy, orchestrator_m=st.orchestrator_m,
            orchestrator_velocity_mps=st.orchestrator_velocity_mps, orchestrator_battery_j=st.orchestrator_battery_j,
            loss_history=self.loss_history, cycles_since_drift=sim.drift.cycles_since(st.cycle),
            label_share=sim.label_share() if self.scenario.redistribution.enabled else None,
        )

    def observe(self) -> np.ndarray:
        """(n_envs, obs size) float32 observation of the coming cycle: the problem's feature blocks encoded from
        :meth:`observation_sources`."""
        return self.problem.layout.encode(self.observation_sources())

    def observation_sources(self) -> dict[str, Any]:
        """The snapshots the observation's blocks read, by source name: the world's (cores that add blocks add
        their sources)."""
        return {"world": self.world_snapshot()}

    def reset(self, seeds: Sequence[int | np.random.SeedSequence], env_ids: Sequence[int] | None = None) -> None:
        env_ids = list(range(self.n_envs)) if env_ids is None else list(env_ids)
        self.sim.reset(seeds, env_ids)
        self.previous_share[env_ids] = 0.0
        self.loss_history[env_ids] = self.sim.loss[env_ids, None]

    def reward(self, decision: Decision, out: Outcome) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """(n_envs,) reward and its parts (docs/envs.md):

        ``reward_lql`` = scale x gain, the gain measured on validation losses bounded by :func:`loss_bound_nats` (a
        diverging model cannot give an absurd reward); ``reward_tau_bonus`` = tau_bonus x sum_k d_k tau_k over
        the learners that finished, / (d max_local_iterations): local work that reached the orchestrator;
        ``reward_energy_penalty`` (the cycle's energy and what a redistribution phase before it spent) and
        ``reward_straggler_penalty`` (learners that missed T or the energy cap).
        """
        r, s = self.params.reward, self.scenario
        classes = self.sim.trainer.num_classes
        if r.metric == "loss":
            gain = bounded_loss(out.loss_before, classes) - bounded_loss(out.loss_after, classes)
        else:
            gain = out.accuracy_after - out.accuracy_before
        work = np.where(out.finished, out.task_sizes * out.local_iterations, 0).sum(axis=1)
        parts = {
            "reward_lql": r.scale * gain,
            "reward_tau_bonus": r.tau_bonus * work / (s.samples_per_cycle * s.max_local_iterations),
            "reward_energy_penalty": r.energy_penalty_per_j * (out.energy_j.sum(axis=1) + self.phase_energy_j),
            "reward_straggler_penalty": r.straggler_penalty * (out.stragglers | out.over_cap).sum(axis=1),
        }
        reward = (parts["reward_lql"] + parts["reward_tau_bonus"] - parts["reward_energy_penalty"]
                  - parts["reward_straggler_penalty"])
        return reward, parts

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """One cycle in every env: (obs, reward, terminated, truncated, info), all batched over envs."""
        actions, samples, effort = self.split_amount(self.validate(self.planned(self.check_shape(actions))))
        decision = with_effort(self.decide(actions, samples), effort)  # effort 1 (no effort action): unchanged
        out = self.sim.step(decision)
        if self.loss_history.shape[1]:
            self.loss_history = np.concatenate([out.loss_before[:, None], self.loss_history[:, :-1]], axis=1)
        moved = self.after_cycle(actions)
        s, p = self.scenario, self.params
        reward, parts = self.reward(decision, out)
        self.previous_share = decision.task_sizes / s.samples_per_cycle
        reached = out.accuracy_after >= (s.target_accuracy if s.target_accuracy is not None else np.inf)
        terminated = (reached & p.terminate_on_target) | self.ended()
        truncated = (self.sim.world.state.cycle >= p.horizon_cycles) & ~terminated
        info = self._info(out, self.reported_tau(decision), reached)
        info["sample_fraction"] = samples / s.samples_per_cycle
        if p.effort_action:
            info["effort"] = effort
        if s.drift.enabled:
            info["drifted"] = self.sim.drift.drifted.copy()  # the concept changed after this cycle (seen in the next)
        info.update(parts)
        info.update(self.decision_info(decision))
        info.update(self.outcome_info(out))
        info.update(moved)
        return self.observe(), reward, terminated, truncated, info

    def _info(self, out: Outcome, tau: np.ndarray, reached: np.ndarray) -> dict[str, np.ndarray]:
        classes = self.sim.trainer.num_classes
        loss = out.loss_after
        info = {"cycle": self.sim.world.state.cycle.copy(), "tau": tau, **learner_info(out),
                "model_diverged": ~(np.isfinite(loss) & (loss < loss_bound_nats(classes))),
                **score_info(out.accuracy_after, loss, out.test_accuracy_after, out.test_loss_after, classes)}
        if self.scenario.target_accuracy is not None:
            info["is_success"] = reached
        return info

    def reset_info(self) -> dict[str, np.ndarray]:
        sim = self.sim
        return {"cycle": sim.world.state.cycle.copy(),
                **score_info(sim.accuracy, sim.loss, sim.test_accuracy, sim.test_loss, sim.trainer.num_classes)}


def score_info(val_accuracy: np.ndarray, val_loss: np.ndarray, test_accuracy: np.ndarray, test_loss: np.ndarray,
               classes) -> dict[str, np.ndarray]:
    """The model's scores as info entries: ``test_accuracy`` / ``test_loss`` on the held-out test split (what results
    report) and ``val_accuracy`` / ``val_loss`` on the validation split (what the reward and the observation use);
    losses bounded by :func:`loss_bound_nats` for ``classes`` (an int, or (J,) per job)."""
    return {"test_accuracy": np.array(test_accuracy, dtype=float), "test_loss": bounded_loss(test_loss, classes),
            "val_accuracy": np.array(val_accuracy, dtype=float), "val_loss": bounded_loss(val_loss, classes)}


def learner_info(out: Outcome) -> dict[str, np.ndarray]:
    """The per-learner info entries of a cycle (batched (n_envs, K); samples_trained (n_envs,)): samples_planned is
    each learner's task d_k (a backup's: its primary's), samples_processed the samples of the learners whose
    model was aggregated after at least one iteration (0 for the others)."""
    processed = np.where(out.finished & (out.local_iterations > 0), out.task_sizes, 0)
    return {"task_sizes": out.task_sizes,
            "samples_planned": out.task_sizes.copy(),
            "samples_processed": processed,
            "samples_trained": processed.sum(axis=1),
            "time_s": out.time_s,
            "time_send_s": out.time_send_s,
            "time_compute_s": out.time_compute_s,
            "time_return_s": out.time_return_s,
            "energy_j": out.energy_j,
            "participants": out.participants,
            "stragglers": out.stragglers,
            "over_cap": out.over_cap,
            "depleted": out.depleted,
            "diverged": out.diverged,
            "outage": out.outage,
            "compute_dropped": out.compute_dropped,
            "backup_used": out.backup_used}


def with_effort(decision: Decision, effort: np.ndarray) -> Decision:
    """The decision run at effort u (n_envs,) in [0, 1]: tau' = floor(u tau) per learner; where u < 1, learners
    left with tau' = 0 get no task (idle: no transfer, no computation, no cost) and back nobody up. u = 1: unchanged."""
    u = np.asarray(effort, dtype=np.float64)[:, None]
    tau = np.floor(u * decision.local_iterations + 1e-9).astype(np.int64)
    idle = (tau == 0) & (u < 1.0)
    backup = None if decision.backup_of is None else np.where(idle, -1, decision.backup_of)
    return dataclasses.replace(decision, task_sizes=np.where(idle, 0, decision.task_sizes), local_iterations=tau,
                               backup_of=backup)


class ShareCore(EnvCore):
    """Cores whose action is a Box of values in [-1, 1], its first block task shares (:mod:`mel_gym.envs.action_blocks`)."""

    params_class: ClassVar[type[EnvParams]] = ShareParams
    blocks: ClassVar[tuple[ActionBlock, ...]] = (Shares(),)
    supports_effort: ClassVar[bool] = True

    def build_action_space(self) -> spaces.Box:
        return spaces.Box(-1.0, 1.0, shape=(self.layout.size,), dtype=np.float32)

    def validate(self, actions: np.ndarray) -> np.ndarray:
        if self.n_envs == 1:  # name the index within the single env's action
            return validate_action(actions[0], actions.shape[1:])[None]
        return validate_action(actions, actions.shape)

    def raw_noop_action(self) -> np.ndarray:
        return np.full(self.raw_action_space.shape, -1.0, dtype=np.float32)

    def sync_decision(self, task_actions: np.ndarray, samples: np.ndarray, tx_power_w: np.ndarray | None = None,
                      available: np.ndarray | None = None) -> Decision:
        """Synchronous MEL from the task-share block: integer task sizes summing to ``samples`` (n_envs,) over the
        ``available`` learners (default: every learner that can take part), then the largest common tau every
        participant can run (TaskAllocation-v0's decision), at uplink powers ``tx_power_w`` (W, (n_envs, K); None:
        the scenario's)."""
        task_sizes = self.task_sizes(task_actions, samples, available)
        tau = np.maximum(self.iteration_limits(task_sizes, tx_power_w=tx_power_w).min(axis=1), 0)
        return Decision(task_sizes=task_sizes, local_iterations=np.where(task_sizes > 0, tau[:, None], 0),
                        tx_power_w=tx_power_w)

    def require_gap_between_cycles(self, what: str) -> None:
        """Raise ``ConfigError`` unless cycles leave time to move in (``cycle_period_s`` > T)."""
        s = self.scenario
        if s.period_s <= s.cycle_deadline_s:
            raise ConfigError(f"{what} moves between cycles: scenario key 'cycle_period_s' = {s.cycle_period_s} must "
                              f"be > cycle_deadline_s = {s.cycle_deadline_s:g} (s), e.g. 10")

    def task_sizes(self, task_actions: np.ndarray, samples: np.ndarray, available: np.ndarray | None = None
                   ) -> np.ndarray:
        """(n_envs, K) integer task sizes from the task-share block, summing to ``samples`` (n_envs,) (or what the
        learners hold, if less) over the ``available`` learners (default: every learner that can take part)."""
        return self.layout.block("shares").decode(task_actions, self.problem, self.decode_context(samples, available))


# ---------------------------------------------------------------------------------------------------- building


def build_problem(s: Scenario, world: World, cost: CostModel, params: EnvParams, num_classes: int, max_task_cap: int,
                  action_beta: float | None, actions: ActionLayout, discrete_amount: bool = False,
                  planner_name: str = "ha-sync-fraction") -> AllocationProblem:
    """The public side of an env over ``world`` (:class:`AllocationProblem`): the scenario's constants, the cost
    model the simulator charges, the observation codec and the raw action's blocks ``actions`` (the amount, where
    it has one, a level of ``params.fraction_levels`` where ``discrete_amount``). ``max_task_cap``: the largest
    task cap (samples)."""
    horizon_cycles = params.horizon_cycles
    return AllocationProblem(
        mode=s.mode, num_learners=s.num_learners,
        samples_per_cycle=s.samples_per_cycle, max_local_iterations=s.max_local_iterations, cost=cost,
        tx_power_w=world.tx_power_w, power_range_db=s.channel.power_range_db,
        orchestrator_power_w=world.orchestrator_power_w, bandwidth_hz=s.channel.bandwidth_hz,
        min_cpu_hz=s.compute.min_cpu_hz, noise_psd_w_per_hz=world.noise_psd_w_per_hz,
        cycle_cap_j=s.energy.cycle_cap_j, action_beta=action_beta, actions=actions,
        mobility=build_mobility(s, world), min_fraction=params.min_fraction,
        fraction_levels=params.fraction_levels if discrete_amount else None, action_mode=params.action_mode,
        planner_name=planner_name,
        codec=ObservationCodec(
            num_learners=s.num_learners, bandwidth_hz=s.channel.bandwidth_hz,
            max_cpu_hz=world.max_cpu_hz, area_radius_m=s.area_radius_m, max_speed_mps=s.mobility.speed_max_mps,
            samples_per_cycle=s.samples_per_cycle, max_task_cap=max_task_cap, horizon_cycles=horizon_cycles,
            num_classes=num_classes, action_beta=DEFAULT_FEATURE_BETA if action_beta is None else action_beta,
            battery_scale_j=s.energy.battery_max_j, orchestrator_height_m=s.orchestrator.height_m,
            mobile_orchestrator=actions.has("velocity"),
            orchestrator_max_speed_mps=s.drone.max_speed_mps, orchestrator_battery_j=s.drone.battery_j,
            loss_history=s.drift.history_cycles if s.drift.enabled else 0,
            reveals_drift=s.drift.enabled and s.drift.reveal,
            label_classes=num_classes if s.redistribution.enabled else 0,
        ),
        send_cap_fraction=s.redistribution.cap_fraction if s.redistribution.enabled else 0.0,
    )


def build_mobility(s: Scenario, world: World) -> Mobility:
    """The public geometry of a scenario and what may move in it (:class:`~mel_gym.envs.problem.Mobility`): the
    world's own path-loss and propulsion models."""
    r = s.relocation
    return Mobility(
        path_loss=world.path_loss_model, coverage_radius_m=s.coverage_radius_m, area_radius_m=s.area_radius_m,
        flight_s=s.period_s - s.cycle_deadline_s, drone_max_speed_mps=s.drone.max_speed_mps,
        rotorcraft=world.rotorcraft, controllable=np.arange(s.num_learners) < r.controllable,
        learner_max_speed_mps=r.max_speed_mps, energy_per_m_j=r.energy_per_m_j,
    )


def split_kwargs(kwargs: Mapping[str, Any], params_class: type[EnvParams]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Keyword arguments -> (scenario overrides, env parameters). An argument that is neither a scenario key nor
    a parameter of this env is a ``TypeError``, as Python gives for an unexpected keyword argument."""
    scenario_keys = {f.name for f in dataclasses.fields(Scenario)}
    param_keys = {f.name for f in dataclasses.fields(params_class)}
    scenario_kw, params_kw = {}, {}
    for key, value in kwargs.items():
        if key in param_keys:
            params_kw[key] = value
        elif key in scenario_keys:
            scenario_kw[key] = value
        else:
            raise TypeError(f"unexpected keyword argument {key!r}: not a scenario key ({sorted(scenario_keys)}) nor a "
                            f"parameter of this env ({sorted(param_keys)})")
    return scenario_kw, params_kw


def build_core(core_class: type[BaseCore], scenario: Scenario | str | dict | None, n_envs: int,
               device: str | torch.device, kwargs: Mapping[str, Any]) -> BaseCore:
    """A core of ``n_envs`` worlds from a scenario (preset, path, dict or None for the env's default) and the
    env's keyword arguments (scenario overrides and env parameters, see :func:`split_kwargs`)."""
    scenario_kw, params_kw = split_kwargs(kwargs, core_class.params_class)
    loaded = load_scenario(core_class.default_scenario if scenario is None else scenario, scenario_kw)
    params = build_params(core_class.params_class, params_kw)
    if params.effort_action and not core_class.supports_effort:
        raise ConfigError("env parameter 'effort_action' needs an env whose action is a Box of shares (TaskAllocation, "
                          "AsyncTaskAllocation, JointAllocation, ReliableTaskAllocation, DroneOrchestrator, "
                          "LearnerRelocation)")
    if params.reward.metric == "value" and not core_class.pays_values:
        raise ConfigError("env parameter 'reward.metric' = 'value' pays jobs' values on reaching their targets: "
                          "MultiJob-v0 only; use loss or accuracy")
    if params.planner_levels is not None and params.action_mode != "planner":
        raise ConfigError("env parameter 'planner_levels' needs action_mode 'planner' (the levels are the planner "
                          f"knobs' values), got action_mode {params.action_mode!r}")
    return core_class(loaded, params, n_envs=n_envs, device=device)


def episode_seed(np_random: np.random.Generator) -> int:
    """The simulator seed of a new episode, drawn from the env's Gymnasium generator (``self.np_random``)."""
    return int(np_random.integers(2**63))
