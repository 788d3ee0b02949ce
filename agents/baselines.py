"""Optimisation baselines for mel_gym's envs; each decides from the observation alone.

They read the observation through the env's documented decoder (``problem.decode``) and use only the
scenario's public constants (``problem``: T, d, the cost model, ...), never hidden simulator state. Share
baselines (equal, HA-Sync, HA-Async, task-only, joint, resource-only) answer with task shares (and resources);
selection baselines (all, greedy) with a MultiBinary selection; mobility baselines (hover, greedy flight, receding
horizon, relocation) add the drone's flight or the learners' moves to HA-Sync's shares; partition baselines
(MILP, matching, greedy) assign MultiJob-v0's learners to jobs.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any, Mapping

import gymnasium as gym
import numpy as np

from mel_gym.envs.action_maps import action_from_effort, representable
from mel_gym.envs.observation import DecodedObservation
from mel_gym.envs.problem import AllocationProblem
from mel_gym.optim.joint_resources import JointPlan, solve_joint, solve_resource_only, solve_task_only
from mel_gym.optim.mobility import HorizonPlanner, best_point, disc_grid
from mel_gym.optim.partitioning import capacity_table, exact_partition, greedy_partition, matching_partition
from mel_gym.optim.selection import greedy_selection, plan_value, selected_plan
from mel_gym.optim.redundancy import backup_capable, expected_value_plan, expected_work, pair_backups
from mel_gym.optim.task_sizing import integer_max_tau
from mel_gym.world.costs import CycleCoefficients, EnergyBudget
from mel_gym.world.geometry import clip_to_disc


#: ``pacing`` at or above this: no energy pacing.
NO_PACING = 1000.0


class _ObservationPolicy:
    """Shared ``predict``: batch the observation, call ``_act`` per row, unbatch.

    Knobs (:mod:`mel_gym.agents.planners`): ``fraction`` (of the cycle's d samples a plan processes; 1: all, the
    classical plans; below 1 the env's action needs the amount) is every policy's; subclasses add theirs. Where the
    env's action has the effort (env parameter ``effort_action``), three more knobs say how much of the plan is run
    (:meth:`effort_for`): ``effort`` u, ``full_effort_cycles`` (full effort for the first n cycles, then u: an
    open-loop plan) and ``loss_threshold`` (nats: idle while the observed validation loss is at or below it).
    ``tuning`` maps the knobs a baseline is tuned on to their grids (set by
    :func:`mel_gym.agents.registry.make_policy`).
    """

    fraction = 1.0
    effort = 1.0
    full_effort_cycles = 0.0
    loss_threshold = 0.0

    def __init__(self, problem: AllocationProblem):
        self.base_problem = problem
        self.tuning: dict[str, tuple[float, ...]] = {}
        self._view: tuple[float, Any] | None = None

    @property
    def problem(self) -> Any:
        """The planning view: the env's problem for plans of this policy's ``fraction`` of d."""
        if self.fraction >= 1.0:
            return self.base_problem
        if self._view is None or self._view[0] != self.fraction:
            self._view = (self.fraction, self.base_problem.with_fraction(self.fraction))
        return self._view[1]

    def planner_knobs(self) -> tuple[str, ...]:
        """The knobs of this policy as an env's planner (:class:`mel_gym.agents.planners.Planner`): its tuned ones."""
        return tuple(self.tuning)

    def set_knobs(self, values: Mapping[str, float]) -> None:
        """Set knob values (name -> value), e.g. a tuned setting or a planner action's."""
        for name, value in values.items():
            current = getattr(self, name, None)
            if isinstance(current, bool) or not isinstance(current, (int, float)):  # a number attribute, not a method
                raise ValueError(f"{type(self).__name__} has no knob {name!r}")
            setattr(self, name, float(value))

    @property
    def _ha_sync(self) -> HASync:
        """HA-Sync on this policy's problem (the share planner the mobility and backup baselines build on)."""
        return HASync(self.problem)

    def knob_values(self) -> dict[str, float]:
        """The current values of the tuned knobs."""
        return {name: float(getattr(self, name)) for name in self.tuning}

    def act(self, obs: np.ndarray) -> np.ndarray:
        """The action for one observation (obs size,); where the env's action ends with the effort, its value is
        :meth:`effort_for` this observation."""
        obs = np.asarray(obs)
        action = self._act(obs)
        if getattr(self.base_problem, "effort_action", False):
            action[-1] = action_from_effort(self.effort_for(self.base_problem.decode(obs)))
        return action

    def effort_for(self, decoded: DecodedObservation) -> float:
        """The effort u in [0, 1] of the coming cycle: 0 (idle) when the observed validation loss is at or below
        ``loss_threshold``; else 1 during the first ``full_effort_cycles`` cycles of the episode (counted from the last
        drift where the world reveals drifts: the drift-time oracle, non-causal), then ``effort``."""
        if float(decoded.val_loss) <= self.loss_threshold:
            return 0.0
        age = decoded.cycle if decoded.cycles_since_drift is None else decoded.cycles_since_drift
        return 1.0 if float(age) < self.full_effort_cycles else float(self.effort)

    def predict(
        self, observation: np.ndarray, state: Any = None, episode_start: np.ndarray | None = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, Any]:
        obs = np.asarray(observation)
        batch = obs.reshape(-1, obs.shape[-1])
        actions = np.stack([self.act(row) for row in batch])
        return (actions[0] if obs.ndim == 1 else actions), state

    def _act(self, obs: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _encode_plan(self, decoded: DecodedObservation, plan: JointPlan, **extra: Any) -> np.ndarray:
        """The share action of ``plan``'s task sizes (no task at all: zero shares, which encode as -1, nobody), with
        the rest of the action (resources, backups, a flight, moves) from ``extra``
        (:meth:`AllocationProblem.encode_action`)."""
        total = max(plan.task_sizes.sum(), 1)
        return self.problem.encode_action(decoded, plan.task_sizes / total, **extra)


class EqualAllocation(_ObservationPolicy):
    """Heterogeneity-unaware allocation (HU/ETA): d_k = d / K for every learner still in the game; in
    JointAllocation also full power, an equal bandwidth share and the top CPU frequency."""

    def _act(self, obs: np.ndarray) -> np.ndarray:
        decoded = self.problem.decode(obs)
        shares = decoded.available / max(int(decoded.available.sum()), 1)
        return self.problem.encode_action(decoded, shares)


class _PlanningPolicy(_ObservationPolicy):
    """A policy that solves an allocation problem per observation and encodes the plan as the action.

    Learners whose planned share is too small for the action map to express (below max share x exp(-2 beta))
    are left out and the problem is solved again without them. Two more knobs: ``threshold`` leaves out the
    learners whose predicted failure probability (1 - (1 - outage)(1 - compute drop), from the observation) exceeds
    it (1: nobody); ``pacing`` plans as if each learner's battery held battery x min(1, pacing / cycles left) (energy
    pacing over the episode; :data:`NO_PACING`: off).
    """

    threshold = 1.0
    pacing = NO_PACING

    def paced(self, decoded: DecodedObservation) -> DecodedObservation:
        """The observation with each battery cut to its paced share of this cycle (as is without pacing)."""
        if self.pacing >= NO_PACING:
            return decoded
        left = max(float(self.problem.codec.horizon_cycles - decoded.cycle), 1.0)
        return replace(decoded, battery_j=decoded.battery_j * min(1.0, self.pacing / left))

    def _solve(self, decoded: DecodedObservation, excluded: np.ndarray) -> JointPlan:  # pragma: no cover
        raise NotImplementedError

    def _at_default_resources(self, tau: int, task_sizes: np.ndarray, decoded: DecodedObservation) -> JointPlan:
        """A plan of tasks at full power, the default bandwidth and each learner's reported CPU."""
        K, p = self.problem.num_learners, self.problem
        return JointPlan(tau, task_sizes, np.full(K, p.tx_power_w), np.full(K, p.bandwidth_hz), decoded.cpu_hz)

    def plan(self, obs: np.ndarray, excluded: np.ndarray | None = None) -> JointPlan:
        """The integer plan (tau, task sizes d_k and resources) for one observation, without the ``excluded``
        learners (bool, K) or those that cannot take part."""
        decoded = self.paced(self.problem.decode(obs))
        excluded = (~decoded.available | (decoded.failure_probability > self.threshold)
                    | (False if excluded is None else excluded))
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
        return self._encode_plan(decoded, plan, power_w=plan.power_w,
                                 bandwidth_shares=plan.bandwidth_hz / self.problem.total_bandwidth_hz, cpu_hz=plan.cpu_hz)


class HASync(_PlanningPolicy):
    """Heterogeneity-aware synchronous allocation (HA-Sync): the integer optimum of max tau at full power, an
    equal bandwidth share and the top CPU frequency.

    Rates, CPU frequencies and batteries come from the observation; see :mod:`mel_gym.optim.task_sizing`
    for the solver (the largest integer tau whose integer capacities cover d, by bisection).
    Energy limits (per-cycle cap, battery) bound each learner's task like its deadline does.
    """

    def _solve(self, decoded: DecodedObservation, excluded: np.ndarray) -> JointPlan:
        p = self.problem
        caps = np.where(excluded, 0.0, decoded.task_caps)
        tau, task_sizes = integer_max_tau(p.coefficients(decoded), p.cycle_deadline_s, p.planned_samples,
                                          p.max_local_iterations, caps, p.energy_budget(decoded))
        return self._at_default_resources(tau, task_sizes, decoded)


class HASyncThreshold(HASync):
    """HA-Sync without the learners whose predicted failure probability (1 - (1 - outage)(1 - compute drop),
    from the observation) exceeds the ``threshold`` knob, tuned on training seeds
    (:func:`mel_gym.experiments.evaluate.evaluate`; the grid is ``ha-sync-threshold``'s in
    :data:`mel_gym.agents.registry.BASELINES`); 1.0 is plain HA-Sync."""


class ExpectedValue(_PlanningPolicy):
    """The expected-value optimiser: the integer tau and tasks that maximise the expected local work reaching the
    orchestrator, tau sum_k (1 - p_k) d_k, under the predicted failure probabilities p_k of the observation
    (:func:`mel_gym.optim.redundancy.expected_value_plan`; checked against scipy's MILP solver)."""

    def _solve(self, decoded: DecodedObservation, excluded: np.ndarray) -> JointPlan:
        p = self.problem
        caps = np.where(excluded, 0.0, decoded.task_caps)
        tau, task_sizes, _ = expected_value_plan(p.coefficients(decoded), p.cycle_deadline_s, p.planned_samples,
                                                 p.max_local_iterations, decoded.failure_probability, caps,
                                                 p.energy_budget(decoded))
        return self._at_default_resources(tau, task_sizes, decoded)


class RedundancyRule(_ObservationPolicy):
    """Back up the riskiest tasks with learners held in reserve (ReliableTaskAllocation).

    A greedy local search from HA-Sync over every available learner: each round tries moving one more learner
    into the reserve, plans HA-Sync over the others, asks backups for the primaries in order of predicted
    failure probability (riskiest first), pairs them as the env will (:func:`mel_gym.optim.redundancy.pair_backups`:
    a reserve learner can back up a task it can finish at the plan's tau) and scores the expected work
    tau sum_k d_k (1 - p_k p_b(k)); it keeps the best move while one improves the score. With nothing to gain it
    is HA-Sync.
    """

    def _score(self, obs: np.ndarray, decoded: DecodedObservation, coeffs: CycleCoefficients,
               energy: EnergyBudget | None, reserve: np.ndarray) -> tuple[float, JointPlan, np.ndarray]:
        """(expected work, plan, backup priorities) with ``reserve`` (bool, K) kept out of the plan; ``coeffs`` and
        ``energy`` are the observation's planning view (computed once per decision)."""
        p = self.problem
        failure = decoded.failure_probability
        plan = self._ha_sync.plan(obs, excluded=reserve)
        primaries = np.flatnonzero(plan.task_sizes > 0)
        order = primaries[np.argsort(-failure[primaries], kind="stable")]
        capable = backup_capable(coeffs, plan.task_sizes, plan.tau, p.cycle_deadline_s, p.max_local_iterations,
                                 energy)
        backup_of = pair_backups(order, capable, reserve & decoded.available, failure)
        priority = np.zeros(p.num_learners)
        backed = backup_of[backup_of >= 0]
        priority[order] = np.arange(order.size, 0, -1) * np.isin(order, backed)  # the env serves larger first
        return expected_work(plan.tau, plan.task_sizes, failure, backup_of), plan, priority

    def _act(self, obs: np.ndarray) -> np.ndarray:
        decoded = self.problem.decode(obs)
        view = (self.problem.coefficients(decoded), self.problem.energy_budget(decoded))
        reserve = np.zeros(self.problem.num_learners, dtype=bool)
        best = self._score(obs, decoded, *view, reserve)
        while True:
            moves = [(self._score(obs, decoded, *view, reserve | (np.arange(reserve.size) == j)), j)
                     for j in np.flatnonzero(decoded.available & ~reserve)]
            if not moves:
                break
            (value, plan, priority), j = max(moves, key=lambda move: move[0][0])
            if value <= best[0] * (1.0 + 1e-9):
                break
            best, reserve[j] = (value, plan, priority), True
        _, plan, priority = best
        return self._encode_plan(decoded, plan, backup_priority=priority)


class TaskOnly(_PlanningPolicy):
    """Task-only optimisation for JointAllocation (the seed's Fig. 3 baseline): the joint problem with the
    resources fixed at full power, an equal bandwidth share and the top CPU frequency
    (:func:`mel_gym.optim.joint_resources.solve_task_only`); energy caps and batteries bound the tasks. It is
    HA-Sync with energy limits, solved through the joint model (the tests check that both agree)."""

    def _solve(self, decoded: DecodedObservation, excluded: np.ndarray) -> JointPlan:
        inst = self.problem.joint_instance(decoded)
        return solve_task_only(replace(inst, task_caps=np.where(excluded, 0.0, inst.task_caps)))


class HAAsync(HASync):
    """Heterogeneity-aware asynchronous allocation (HA-Async) for AsyncTaskAllocation.

    Minimising the staleness max_k tau_k - min_k tau_k under the deadline, relaxed, has optimum 0: every
    deadline tight at one common tau, which is unique (tau_k(d_k) decreases in d_k and sum d_k = d) and is
    HA-Sync's relaxed solution (:func:`mel_gym.optim.task_sizing.relaxed_min_staleness`). The integer
    recovery is HA-Sync's; the env then lets every learner run its own largest tau_k, so the integer
    staleness comes only from rounding.
    """


class Joint(_PlanningPolicy):
    """Joint task and resource allocation (power, bandwidth, CPU): :func:`mel_gym.optim.joint_resources.solve_joint`."""

    def _solve(self, decoded: DecodedObservation, excluded: np.ndarray) -> JointPlan:
        inst = self.problem.joint_instance(decoded)
        return solve_joint(replace(inst, task_caps=np.where(excluded, 0.0, inst.task_caps)))


class ResourceOnly(_PlanningPolicy):
    """Equal tasks with power, bandwidth and CPU optimised: :func:`mel_gym.optim.joint_resources.solve_resource_only`."""

    def _solve(self, decoded: DecodedObservation, excluded: np.ndarray) -> JointPlan:
        inst = self.problem.joint_instance(decoded)
        return solve_resource_only(replace(inst, available=inst.available & ~excluded))


class _SelectionPolicy(_ObservationPolicy):
    """A LearnerSelection baseline: which learners take part, from the observation (int8 MultiBinary action; with
    the amount, a MultiDiscrete action ending with the level of the policy's fraction)."""

    def _act(self, obs: np.ndarray) -> np.ndarray:
        chosen = self.select(self.problem.decode(obs))
        if not self.problem.amount_action:
            return chosen.astype(np.int8)
        return np.append(chosen.astype(np.int64), self.problem.amount_level())

    def select(self, decoded: DecodedObservation) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def value(self, decoded: DecodedObservation):
        """tau x samples trained of a selection, as the env will plan it (HA-Sync over the chosen learners)."""
        p = self.problem
        coeffs, energy = p.coefficients(decoded), p.energy_budget(decoded)
        return lambda chosen: plan_value(selected_plan(chosen, coeffs, p.cycle_deadline_s, p.planned_samples,
                                                       p.max_local_iterations, decoded.task_caps, energy))


class AllLearners(_SelectionPolicy):
    """Every learner that still has battery takes part: HA-Sync over all learners."""

    def select(self, decoded: DecodedObservation) -> np.ndarray:
        return decoded.available.copy()


class GreedySelection(_SelectionPolicy):
    """Local search for the selection with the most local work reaching the orchestrator, tau x samples
    trained (:func:`mel_gym.optim.selection.greedy_selection`, from all learners)."""

    def select(self, decoded: DecodedObservation) -> np.ndarray:
        return greedy_selection(self.value(decoded), decoded.available)


class _DronePolicy(_ObservationPolicy):
    """DroneOrchestrator baselines: HA-Sync's tasks for the cycle at the drone's current position (exact: the
    observation's rates are those of this cycle) and a flight chosen by :meth:`target` (where the drone should
    be for the next cycle; it flies there as fast as it may).

    Planning uses the observation only: learner positions and velocities (constant-velocity prediction of where
    they will be), the drone's position, and the scenario's public path loss to carry the observed gains to
    other drone positions (:meth:`AllocationProblem.relaxed_tau_at`)."""

    #: grid spacing of the searches, as a share of the area radius
    grid_share = 1.0 / 14.0

    def __init__(self, problem: AllocationProblem):
        super().__init__(problem)
        self.spacing = problem.mobility.area_radius_m * self.grid_share

    def predicted_positions(self, decoded: DecodedObservation, cycles: int) -> np.ndarray:
        """(K, 2) where the learners will be ``cycles`` cycles ahead if they keep their velocities, m."""
        m = self.problem.mobility
        ahead = decoded.position_m + decoded.velocity_mps * cycles * (m.flight_s + self.problem.cycle_deadline_s)
        return clip_to_disc(ahead, m.area_radius_m)

    def tau_score(self, decoded: DecodedObservation, cycles: int):
        """Score (M, 2) -> (M,): relaxed tau* with the drone at each point, learners ``cycles`` cycles ahead."""
        positions = self.predicted_positions(decoded, cycles)
        height = decoded.orchestrator_m[2]
        return lambda points: self.problem.relaxed_tau_at(
            decoded, np.column_stack([points, np.full(len(points), height)]), positions)

    def target(self, decoded: DecodedObservation) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _act(self, obs: np.ndarray) -> np.ndarray:
        decoded = self.problem.decode(obs)
        plan = self._ha_sync.plan(obs)
        step = self.target(decoded) - decoded.orchestrator_m[:2]
        velocity = step / self.problem.mobility.flight_s  # within reach: at most the top speed
        return self._encode_plan(decoded, plan, velocity_mps=velocity)


class HoverAtBestPoint(_DronePolicy):
    """Fly to the point of the area where HA-Sync's tau is largest for the learners where they are now (grid
    search, then scipy's Nelder-Mead: :func:`mel_gym.optim.mobility.best_point`) and hover there."""

    def target(self, decoded: DecodedObservation) -> np.ndarray:
        m = self.problem.mobility
        point, _ = best_point(self.tau_score(decoded, 0), np.zeros(2), m.area_radius_m, m.area_radius_m, self.spacing)
        return point


class GreedyFlight(_DronePolicy):
    """Fly to the point within one flight's reach where next cycle's HA-Sync tau is largest, for the learners
    where they will be (constant velocity): a grid of half the other baselines' spacing, no refinement (cheap
    enough to be the base of a residual agent)."""

    def target(self, decoded: DecodedObservation) -> np.ndarray:
        m = self.problem.mobility
        point, _ = best_point(self.tau_score(decoded, 1), decoded.orchestrator_m[:2], m.drone_reach_m,
                              m.area_radius_m, self.spacing / 2, refine=0)
        return point


class RecedingHorizon(_DronePolicy):
    """Plan the next ``horizon`` waypoints (each within one flight's reach) maximising the sum of HA-Sync's tau
    at the learners' predicted positions minus ``energy_weight`` x the propulsion energy in units of one
    hovering period (dynamic programming on a grid of the area:
    :class:`mel_gym.optim.mobility.HorizonPlanner`), fly to the first. ``energy_weight`` (a knob) trades tau against
    the battery that ends the episode; it is tuned on training seeds by ``evaluate`` and ``run`` (the grid of
    ``receding-horizon`` in :data:`mel_gym.agents.registry.BASELINES`); the default, 10, is what that tuning chose on
    seeds 0-7 of the ``drone`` preset."""

    horizon = 3

    def __init__(self, problem: AllocationProblem, energy_weight: float = 10.0):
        super().__init__(problem)
        self.energy_weight = energy_weight
        m = problem.mobility
        self._planner = HorizonPlanner(disc_grid(np.zeros(2), m.area_radius_m, self.spacing), m.drone_reach_m,
                                        self.step_cost)

    def step_cost(self, step_m: np.ndarray) -> np.ndarray:
        """Propulsion energy of a flight of ``step_m`` metres and the cycle that follows, in hovering periods."""
        m, T = self.problem.mobility, self.problem.cycle_deadline_s
        if m.flight_s <= 0:
            return np.zeros_like(step_m)
        craft = m.rotorcraft
        energy = craft.power_w(step_m / m.flight_s) * m.flight_s + craft.hover_power_w * T
        return energy / (craft.hover_power_w * (m.flight_s + T))

    def target(self, decoded: DecodedObservation) -> np.ndarray:
        scores = [self.tau_score(decoded, h) for h in range(1, self.horizon + 1)]
        point, _ = self._planner.plan(scores, decoded.orchestrator_m[:2], self.energy_weight)
        return point


class RelocationHeuristic(_ObservationPolicy):
    """LearnerRelocation: HA-Sync's tasks, and each controllable learner (one after the other) heads for the
    destination that pays most over the cycles left, looking several moves ahead: among the points 0, 10, ..., 100%
    of the way to the orchestrator and the first point within its range, destination x is worth
    value_per_tau x (gain in HA-Sync's relaxed tau with the learner at x) x (cycles left after arriving) - the
    kJ of getting there; the learner makes one move (its reach) toward the best destination when that is worth
    more than staying. ``value_per_tau`` (a knob: kJ of moving that one unit of tau in one cycle is worth) is tuned
    on training seeds, which fits it to the env's move penalty."""

    def __init__(self, problem: AllocationProblem, value_per_tau: float = 0.03):
        super().__init__(problem)
        self.value_per_tau = value_per_tau

    def moves(self, decoded: DecodedObservation) -> np.ndarray:
        """(K, 2) each learner's move, m."""
        p, m = self.problem, self.problem.mobility
        reach = m.learner_reach_m
        left = max(p.codec.horizon_cycles - float(decoded.cycle), 0.0)
        positions = decoded.position_m.copy()
        moves = np.zeros((p.num_learners, 2))
        for k in np.flatnonzero(m.controllable):
            toward = decoded.orchestrator_m[:2] - positions[k]
            distance = float(np.hypot(*toward))
            if distance <= 0 or reach <= 0:
                continue
            in_range = max(distance - m.coverage_radius_m * (1 - 1e-6), 0.0) / distance
            fractions = np.unique(np.concatenate([np.linspace(0.0, 1.0, 11), [in_range]]))
            candidates = np.repeat(positions[None], fractions.size, axis=0)
            candidates[:, k] = positions[k] + fractions[:, None] * toward
            tau = p.relaxed_tau_at(decoded, position_m=candidates)
            length = fractions * distance
            arrival = np.ceil(length / reach - 1e-9)
            value = (self.value_per_tau * (tau - tau[0]) * np.maximum(left - arrival, 0.0)
                     - m.energy_per_m_j * length / 1e3)
            best = int(np.argmax(value))
            if value[best] > 0:
                moves[k] = toward / distance * min(reach, length[best])
                positions[k] += moves[k]
        return moves

    def _act(self, obs: np.ndarray) -> np.ndarray:
        decoded = self.problem.decode(obs)
        plan = self._ha_sync.plan(obs)
        return self._encode_plan(decoded, plan, moves_m=self.moves(decoded))


class _PartitionPolicy(_ObservationPolicy):
    """MultiJob-v0: partition the learners between the jobs by maximising the per-job progress sum_j v_j G(tau_j)
    (:mod:`mel_gym.optim.partitioning`) from the observation: each learner's work for each job from the observed
    rates and CPUs with that job's model and deadline (and its energy limit), over the samples n_j the job's plan
    hands out, the action mask's who-can-serve-what, and the job values v_j = m_j w_j (L_j / ln C_j)^loss_exponent,
    L_j the job's last validation loss (a job far from trained gains more per iteration). Knobs: ``loss_exponent`` (tuned
    on training seeds by ``evaluate``), ``fraction`` (every job's fraction of its d_j) and, as MultiJob-v0's planner,
    each job's ``fraction_<j>`` and value multiplier ``weight_<j>`` (m_j, 1 by default)."""

    loss_exponent = 1.0

    def __init__(self, problem: Any):
        super().__init__(problem)
        self.fractions = np.ones(problem.num_jobs)
        self.job_weights = np.ones(problem.num_jobs)

    @property
    def problem(self) -> Any:
        """The planning view: the env's problem for plans of this policy's job fractions."""
        key = tuple(self.fractions)
        if self._view is None or self._view[0] != key:
            self._view = (key, self.base_problem.with_fractions(self.fractions))
        return self._view[1]

    def planner_knobs(self) -> tuple[str, ...]:
        J = self.base_problem.num_jobs
        return tuple(f"fraction_{j}" for j in range(J)) + tuple(f"weight_{j}" for j in range(J))

    def set_knobs(self, values: Mapping[str, float]) -> None:
        for name, value in values.items():
            base, _, index = name.rpartition("_")
            if name == "fraction":
                self.fractions = np.full(self.base_problem.num_jobs, float(value))
            elif base in ("fraction", "weight") and index.isdigit() and int(index) < self.base_problem.num_jobs:
                (self.fractions if base == "fraction" else self.job_weights)[int(index)] = float(value)
            else:  # loss_exponent, and the priority rules' own
                super().set_knobs({name: value})

    def knob_values(self) -> dict[str, float]:
        return {name: (float(self.fractions[0]) if name == "fraction" else float(getattr(self, name)))
                for name in self.tuning}

    def solve(self, work: np.ndarray, allowed: np.ndarray, values: np.ndarray) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def instance(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(work (J, K) iterations per cycle each learner adds to each job, allowed (J, K), values (J,))."""
        p = self.problem
        decoded = p.decode(obs)
        work = np.zeros((p.num_jobs, p.num_learners))
        for j, job in enumerate(p.jobs):
            coeffs, energy = p.coefficients(decoded, j), p.energy_budget(decoded, j)
            with np.errstate(divide="ignore", invalid="ignore"):
                sample_iterations = np.maximum(job.cycle_deadline_s - coeffs.c0, 0.0) / coeffs.c2
                if energy is not None:
                    e = energy.coefficients
                    sample_iterations = np.minimum(
                        sample_iterations, np.maximum(energy.limit_j - e.fixed_j, 0.0) / e.per_sample_iteration_j)
            work[j] = np.minimum(np.nan_to_num(sample_iterations / p.planned_samples(j)), p.max_local_iterations)
        loss = decoded.job_loss / np.log(np.array(p.num_classes, dtype=np.float64))
        values = self.job_weights * p.weights * np.maximum(loss, 1e-6) ** self.loss_exponent
        return work, p.can_serve(decoded), values

    def _act(self, obs: np.ndarray) -> np.ndarray:
        work, allowed, values = self.instance(obs)
        return self.problem.encode_assignment(self.solve(work, allowed, values))


class PartitionMILP(_PartitionPolicy):
    """The exact assignment for the env's own integer rule, by mixed-integer programming (HiGHS,
    :func:`mel_gym.optim.partitioning.exact_partition`): each job's tau is the largest integer t whose integer
    capacities (within its deadline and the learners' energy limits, at most their holdings: the observation's)
    cover the n_j samples its plan hands out, and the objective is sum_j v_j G(tau_j); a job whose learners hold
    fewer than n_j samples scores 0 (``partial_jobs=False``: counting it at its high tau games the objective,
    docs/multijob.md §4). Checked against enumeration (``tests/test_partitioning.py``). HiGHS stops after
    :attr:`node_limit` branch-and-bound nodes with its best assignment (a limit in nodes, not seconds, so the plan
    does not depend on the machine's speed; the preset's instances solve in under 0.3 s, far below it)."""

    node_limit = 100_000

    def _act(self, obs: np.ndarray) -> np.ndarray:
        p = self.problem
        decoded = p.decode(obs)
        _, allowed, values = self.instance(obs)
        holding = decoded.holding.astype(np.int64)
        capacity = np.stack([capacity_table(p.coefficients(decoded, j), job.cycle_deadline_s, holding[j],
                                            p.max_local_iterations, p.energy_budget(decoded, j))
                             for j, job in enumerate(p.jobs)])
        samples = np.array([p.planned_samples(j) for j in range(p.num_jobs)])
        assignment = exact_partition(capacity, holding, samples, allowed, values, p.max_local_iterations,
                                     partial_jobs=False, node_limit=self.node_limit)
        return p.encode_assignment(assignment)


class PartitionMatching(_PartitionPolicy):
    """A balanced assignment (up to ceil(K / J) learners per job) by the Hungarian method."""

    def solve(self, work: np.ndarray, allowed: np.ndarray, values: np.ndarray) -> np.ndarray:
        return matching_partition(work, allowed, values, self.problem.max_local_iterations)


class PartitionGreedy(_PartitionPolicy):
    """The most capable learners first, each to the job it advances most (the more important on ties)."""

    def solve(self, work: np.ndarray, allowed: np.ndarray, values: np.ndarray) -> np.ndarray:
        return greedy_partition(work, allowed, values, self.problem.max_local_iterations)


class _PriorityPartition(_PartitionPolicy):
    """Classical scheduling for jobs that arrive with deadlines (MultiJob-v0 with ``arrivals``): the servable jobs
    (open, not done, someone can serve them) in the order of a priority rule (:meth:`priority`, the largest first);
    the most capable learners first, learner n serves job n mod ``jobs_at_once`` of the first ``jobs_at_once`` jobs
    if it can, else the first job in the order it can serve. Knobs, tuned on training seeds: ``jobs_at_once``
    (1: everybody on the most urgent job) and ``fraction`` (every job's fraction of its d_j); :meth:`drops` may put
    jobs last (the triage rule). Without arrivals every job is open with no deadline."""

    jobs_at_once = 1.0

    def priority(self, decoded: Any) -> np.ndarray:  # pragma: no cover - abstract
        """(J,) the jobs' priorities, the largest served first."""
        raise NotImplementedError

    def drops(self, decoded: Any) -> np.ndarray:
        """(J,) bool: jobs put after every other (none by default)."""
        return np.zeros(self.problem.num_jobs, dtype=bool)

    def _act(self, obs: np.ndarray) -> np.ndarray:
        p = self.problem
        decoded = p.decode(obs)
        work, allowed, _ = self.instance(obs)
        servable = allowed.any(axis=1)
        dropped = self.drops(decoded)
        # jobs by (kept before dropped, priority descending, index): np.lexsort sorts by its last key first
        order = [int(j) for j in np.lexsort((-self.priority(decoded), dropped)) if servable[j]]
        kept = [j for j in order if not dropped[j]] or order
        top = kept[: max(1, int(round(self.jobs_at_once)))]
        assignment = np.full(p.num_learners, -1, dtype=np.int64)
        for n, k in enumerate(np.argsort(-work.max(axis=0), kind="stable")):
            if top and allowed[top[n % len(top)], k]:
                assignment[k] = top[n % len(top)]
            else:
                assignment[k] = next((j for j in order if allowed[j, k]), -1)
        return p.encode_assignment(assignment)


class EarliestDeadlineFirst(_PriorityPartition):
    """The job whose deadline comes first first (ties: the larger weight)."""

    def priority(self, decoded: Any) -> np.ndarray:
        weights = self.base_problem.weights
        return -np.minimum(decoded.job_cycles_left, 1e9) + 1e-3 * weights / weights.max()


class ValueDensity(_PriorityPartition):
    """The job with the most value per accuracy still to gain first: w_j / max(target_j - accuracy_j, 0.01)."""

    def priority(self, decoded: Any) -> np.ndarray:
        gap = self.base_problem.targets - decoded.job_accuracy
        return self.base_problem.weights / np.maximum(gap, 0.01)


class Triage(EarliestDeadlineFirst):
    """Earliest deadline first among the jobs that can still make their deadline: a job whose accuracy gap to its
    target exceeds ``progress_per_cycle`` x its open cycles left is dropped (served only where nothing else is)."""

    progress_per_cycle = 0.1

    def drops(self, decoded: Any) -> np.ndarray:
        return self.base_problem.targets - decoded.job_accuracy > self.progress_per_cycle * decoded.job_cycles_left


class RandomPolicy:
    """Uniform random actions from the action space (any Gymnasium space), seeded."""

    def __init__(self, action_space: gym.spaces.Space, seed: int = 0):
        self.action_space = copy.deepcopy(action_space)
        self.action_space.seed(seed)

    def predict(
        self, observation: np.ndarray, state: Any = None, episode_start: np.ndarray | None = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, Any]:
        obs = np.asarray(observation)
        n = 1 if obs.ndim == 1 else obs.shape[0]
        actions = np.stack([self.action_space.sample() for _ in range(n)])
        return (actions[0] if obs.ndim == 1 else actions), state


__all__ = ["AllLearners", "EarliestDeadlineFirst", "EqualAllocation", "ExpectedValue", "GreedyFlight", "GreedySelection",
           "HAAsync", "HASync",
           "HASyncThreshold", "HoverAtBestPoint", "Joint", "PartitionGreedy", "PartitionMILP", "PartitionMatching",
           "RandomPolicy", "RecedingHorizon", "RedundancyRule",
           "RelocationHeuristic", "ResourceOnly", "TaskOnly", "Triage", "ValueDensity"]
