"""Optimisation baselines for the task-allocation envs; each decides from the observation alone.

They read the observation through the env's documented decoder (``problem.decode``) and use only the
scenario's public constants (``problem``: T, d, S_m, S_d, C_m, ...), never hidden simulator state.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import gymnasium as gym
import numpy as np

from mel_gym.envs.action_maps import representable
from mel_gym.envs.core import AllocationProblem
from mel_gym.envs.observation import DecodedObservation
from mel_gym.optim.joint_allocation import JointPlan, solve_joint, solve_resource_only, solve_task_only
from mel_gym.optim.task_allocation import integer_max_tau


class _ObservationPolicy:
    """Shared ``predict``: batch the observation, call ``_act`` per row, unbatch."""

    def predict(
        self, observation: np.ndarray, state: Any = None, episode_start: np.ndarray | None = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, Any]:
        obs = np.asarray(observation)
        batch = obs.reshape(-1, obs.shape[-1])
        actions = np.stack([self._act(row) for row in batch]).astype(np.float32)
        return (actions[0] if obs.ndim == 1 else actions), state

    def _act(self, obs: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


class EqualAllocation(_ObservationPolicy):
    """Heterogeneity-unaware allocation (HU/ETA): d_k = d / K for every learner still in the game; in
    JointAllocation also full power, an equal bandwidth share and the top CPU frequency."""

    def __init__(self, problem: AllocationProblem):
        self.problem = problem

    def _act(self, obs: np.ndarray) -> np.ndarray:
        decoded = self.problem.decode(obs)
        shares = decoded.available / max(int(decoded.available.sum()), 1)
        return self.problem.encode_action(decoded, shares)


class _PlanningPolicy(_ObservationPolicy):
    """A policy that solves an allocation problem per observation and encodes the plan as the action.

    Learners whose planned share is too small for the action map to express (below max share x exp(-2 beta))
    are left out and the problem is solved again without them.
    """

    def __init__(self, problem: AllocationProblem):
        self.problem = problem

    def _solve(self, decoded: DecodedObservation, excluded: np.ndarray) -> JointPlan:  # pragma: no cover
        raise NotImplementedError

    def plan(self, obs: np.ndarray) -> JointPlan:
        """The integer plan (tau, task sizes d_k and resources) for one observation."""
        decoded = self.problem.decode(obs)
        excluded = ~decoded.available
        while True:
            plan = self._solve(decoded, excluded)
            shares = plan.task_sizes / max(plan.task_sizes.sum(), 1)
            tiny = (shares > 0) & ~representable(shares, self.problem.action_beta)
            if not np.any(tiny):
                return plan
            excluded = excluded | tiny

    def _act(self, obs: np.ndarray) -> np.ndarray:
        plan = self.plan(obs)
        decoded = self.problem.decode(obs)
        total = plan.task_sizes.sum()
        if total == 0:
            return np.full(self.problem.action_blocks * self.problem.num_learners, -1.0, dtype=np.float32)
        return self.problem.encode_action(decoded, plan.task_sizes / total, plan.power_w,
                                          plan.bandwidth_hz / self.problem.total_bandwidth_hz, plan.cpu_hz)


class HASync(_PlanningPolicy):
    """Heterogeneity-aware synchronous allocation (HA-Sync): the integer optimum of max tau at full power, an
    equal bandwidth share and the top CPU frequency.

    Rates, CPU frequencies and batteries come from the observation; see :mod:`mel_gym.optim.task_allocation`
    for the solver (bisection in PL, closed form in FL without caps or energy limits, exact integer recovery).
    Energy limits (per-cycle cap, battery) bound each learner's task like its deadline does.
    """

    def _solve(self, decoded: DecodedObservation, excluded: np.ndarray) -> JointPlan:
        p = self.problem
        caps = np.where(excluded, 0.0, decoded.task_cap)
        tau, task_sizes = integer_max_tau(p.coefficients(decoded), p.deadline_s, p.samples_per_cycle,
                                          p.max_local_iterations, caps, p.energy_budget(decoded))
        K = p.num_learners
        return JointPlan(tau, task_sizes, np.full(K, p.tx_power_w), np.full(K, p.bandwidth_hz), decoded.cpu_hz)


class TaskOnly(_PlanningPolicy):
    """Task-only optimisation for JointAllocation (the seed's Fig. 3 baseline): the joint problem with the
    resources fixed at full power, an equal bandwidth share and the top CPU frequency
    (:func:`mel_gym.optim.joint_allocation.solve_task_only`); energy caps and batteries bound the tasks. It is
    HA-Sync with energy limits, solved through the joint model (the tests check that both agree)."""

    def _solve(self, decoded: DecodedObservation, excluded: np.ndarray) -> JointPlan:
        inst = self.problem.joint_instance(decoded)
        return solve_task_only(replace(inst, task_cap=np.where(excluded, 0.0, inst.task_cap)))


class HAAsync(HASync):
    """Heterogeneity-aware asynchronous allocation (HA-Async) for AsyncTaskAllocation.

    Minimising the staleness max_k tau_k - min_k tau_k under the deadline, relaxed, has optimum 0: every
    deadline tight at one common tau, which is unique (tau_k(d_k) decreases in d_k and sum d_k = d) and is
    HA-Sync's relaxed solution (:func:`mel_gym.optim.task_allocation.relaxed_min_staleness`). The integer
    recovery is HA-Sync's; the env then lets every learner run its own largest tau_k, so the integer
    staleness comes only from rounding.
    """


class Joint(_PlanningPolicy):
    """Joint task and resource allocation (power, bandwidth, CPU): :func:`mel_gym.optim.joint_allocation.solve_joint`."""

    def _solve(self, decoded: DecodedObservation, excluded: np.ndarray) -> JointPlan:
        inst = self.problem.joint_instance(decoded)
        return solve_joint(replace(inst, task_cap=np.where(excluded, 0.0, inst.task_cap)))


class ResourceOnly(_PlanningPolicy):
    """Equal tasks with power, bandwidth and CPU optimised: :func:`mel_gym.optim.joint_allocation.solve_resource_only`."""

    def _solve(self, decoded: DecodedObservation, excluded: np.ndarray) -> JointPlan:
        inst = self.problem.joint_instance(decoded)
        return solve_resource_only(replace(inst, available=inst.available & ~excluded))


class RandomPolicy:
    """Uniform random actions from the action space, seeded."""

    def __init__(self, action_space: gym.spaces.Box, seed: int = 0):
        self.action_space = action_space
        self.rng = np.random.default_rng(seed)

    def predict(
        self, observation: np.ndarray, state: Any = None, episode_start: np.ndarray | None = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, Any]:
        obs = np.asarray(observation)
        n = 1 if obs.ndim == 1 else obs.shape[0]
        low, high = self.action_space.low, self.action_space.high
        actions = self.rng.uniform(low, high, size=(n, *self.action_space.shape)).astype(np.float32)
        return (actions[0] if obs.ndim == 1 else actions), state


__all__ = ["EqualAllocation", "HAAsync", "HASync", "Joint", "RandomPolicy", "ResourceOnly", "TaskOnly"]
