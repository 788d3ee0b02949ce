"""MultiJob-v0: partition the learners between several simultaneous learning jobs, every cycle."""

from __future__ import annotations

from typing import Any, ClassVar, Sequence

import numpy as np
import torch
from gymnasium import spaces

from mel_gym.config import Scenario
from mel_gym.envs.action_blocks import ActionBlock, ActionLayout, JobChoice
from mel_gym.envs.action_maps import first_bad_integer
from mel_gym.envs.core import BaseCore, build_problem, learner_info, score_info
from mel_gym.envs.env import MELEnv
from mel_gym.envs.multijob_problem import JobSnapshot, MultiJobProblem, job_problem
from mel_gym.envs.observation import WorldSnapshot, bounded_loss, loss_bound_nats
from mel_gym.envs.params import EnvParams, MultiJobParams
from mel_gym.envs.vector import vector_env_class
from mel_gym.simulation.jobs import MultiJobSimulator
from mel_gym.optim.selection import selected_plan
from mel_gym.optim.task_sizing import relaxed_task_sizes
from mel_gym.schema import ConfigError


class MultiJobCore(BaseCore):
    """An assignment of learners to jobs -> per job, HA-Sync's task sizes over its learners and their common tau."""

    params_class: ClassVar[type[EnvParams]] = MultiJobParams
    default_scenario: ClassVar[str] = "multijob"
    planner_name: ClassVar[str] = "milp-fraction"
    blocks: ClassVar[tuple[ActionBlock, ...]] = (JobChoice(),)
    discrete_amount: ClassVar[bool] = True
    pays_values: ClassVar[bool] = True

    def __init__(self, scenario: Scenario, params: EnvParams, n_envs: int = 1, device: str | torch.device = "cpu"):
        self.scenario, self.params, self.n_envs = scenario, params, n_envs
        self.sim = sim = MultiJobSimulator(scenario, n_envs=n_envs, device=device)
        s, J, K = scenario, sim.num_jobs, sim.num_learners
        self.targets = np.array([np.inf if job.target_accuracy is None else job.target_accuracy for job in sim.jobs])
        if params.terminate_on_target and not np.isfinite(self.targets).any():
            raise ConfigError("env parameter 'terminate_on_target' is true but no job has a 'target_accuracy'; set "
                              "jobs[j].target_accuracy")
        held = max(len(ids) for ids in sim.train_ids)
        self.layout = self.action_layout(amount_count=J)
        world = build_problem(s, sim.world, sim.costs[0], params, max(sim.num_classes),
                              max(s.samples_per_cycle, sum(len(ids) for ids in sim.train_ids)), None,
                              ActionLayout(self.blocks, K))  # the world's view: no amount of its own
        self.problem = MultiJobProblem(
            actions=self.layout, world=world, jobs=tuple(sim.jobs), num_classes=tuple(sim.num_classes),
            job_problems=tuple(job_problem(world, job, cost) for job, cost in zip(sim.jobs, sim.costs)),
            holding_max=max(held / job.samples_per_cycle for job in sim.jobs), amount_action=self.has_amount,
            min_fraction=params.min_fraction, fraction_levels=params.fraction_levels, action_mode=params.action_mode,
            deadline_max_cycles=s.arrivals.deadline_max_cycles if s.arrivals.enabled else None)
        self.observation_space = self.problem.space()
        levels = [params.fraction_levels] * J if self.has_amount else []
        self.action_space = spaces.MultiDiscrete(np.array([J + 1] * K + levels, dtype=np.int64))
        self.attach_planner()
        self.reference_tau = s.max_local_iterations / 4.0
        self.previous_job = np.full((n_envs, K), -1, dtype=np.int64)
        self.previous_share = np.zeros((n_envs, K))
        self.done = np.zeros((n_envs, J), dtype=bool)
        self._last_obs: np.ndarray | None = None

    # ------------------------------------------------------------------------------------------------ actions
    def validate(self, actions: np.ndarray) -> np.ndarray:
        J, K = self.sim.num_jobs, self.scenario.num_learners
        top = np.array([J] * K + [self.params.fraction_levels - 1] * (actions.shape[1] - K))
        bad = first_bad_integer(actions, actions, top, self.n_envs)
        if bad is not None:
            where, value, entry = bad
            if not self.has_amount:
                raise ValueError(f"action holds {value!r} at index {where}: every entry must be an integer in [0, {J}] "
                                 "(0: idle, j + 1: job j)")
            what = f"an integer in [0, {J}] (0: idle, j + 1: job j)" if entry < K else "an amount level"
            raise ValueError(f"action holds {value!r} at index {where}: it must be {what}; entries 0 .. {K - 1} pick "
                             f"a job, entries {K} .. {K + J - 1} are the jobs' amount levels in [0, "
                             f"{self.params.fraction_levels - 1}]")
        return actions.astype(np.int64)

    def raw_noop_action(self) -> np.ndarray:
        return np.zeros(self.raw_action_space.shape, dtype=np.int64)

    def action_masks(self) -> np.ndarray:
        """(n_envs, K (J + 1)) bool: which values each learner may take (:meth:`MultiJobProblem.action_mask`), from
        the observation of the coming cycle."""
        if self.planner is not None:
            raise AttributeError("action_masks: under action_mode='planner' the action is the planner's knobs, which "
                                 "have no masks")
        return self.problem.action_mask(self._decoded())

    def _decoded(self):
        return self.problem.decode(self.observe() if self._last_obs is None else self._last_obs)

    def plan(self, actions: np.ndarray, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(assignment (n_envs, K) with -1 = idle, task sizes, iterations, each job's tau (n_envs, J)) for the
        assignment part of ``actions`` (n_envs, K). A learner sent to a job it cannot serve (the action mask) idles;
        each job's learners get HA-Sync's task sizes for the samples they hold, min(n_j, their data) with n_j =
        ``samples`` (n_envs, J) of the job's d_j, and run the largest common tau; a job whose learners cannot run one
        iteration idles them."""
        s, sim, J = self.scenario, self.sim, self.sim.num_jobs
        masks = self.problem.learner_mask(self._decoded()).reshape(self.n_envs, -1, J + 1)
        chosen = np.take_along_axis(masks, actions[..., None], axis=2)[..., 0]
        assignment = np.where(chosen, actions - 1, -1)
        task_sizes = np.zeros(assignment.shape, dtype=np.int64)
        iterations = np.zeros(assignment.shape, dtype=np.int64)
        job_tau = np.zeros((self.n_envs, J), dtype=np.int64)
        for j, job in enumerate(sim.jobs):
            serves = assignment == j
            if not serves.any():
                continue
            coeffs, energy = sim.coefficients(j), sim.energy_budget(j)
            for i in np.flatnonzero(serves.any(axis=1)):
                tau, sizes = selected_plan(serves[i], coeffs[i], job.cycle_deadline_s, int(samples[i, j]),
                                           s.max_local_iterations, sim.task_caps[i, j], None if energy is None else energy[i])
                task_sizes[i] += sizes
                iterations[i] += np.where(sizes > 0, tau, 0)
                job_tau[i, j] = tau
        assignment = np.where(task_sizes > 0, assignment, -1)
        return assignment, task_sizes, iterations, job_tau

    # ------------------------------------------------------------------------------------------------ episode
    def reset(self, seeds: Sequence[int | np.random.SeedSequence], env_ids: Sequence[int] | None = None) -> None:
        env_ids = list(range(self.n_envs)) if env_ids is None else list(env_ids)
        self.sim.reset(seeds, env_ids)
        self.previous_job[env_ids], self.previous_share[env_ids] = -1, 0.0
        self.done[env_ids] = self.sim.accuracy[env_ids] >= self.targets
        self._last_obs = None

    def observe(self) -> np.ndarray:
        """(n_envs, obs size) float32 (:mod:`mel_gym.envs.multijob_problem`)."""
        sim, p = self.sim, self.problem
        world, st = sim.world, sim.world.state
        capacity = np.stack([relaxed_task_sizes(sim.coefficients(j), job.cycle_deadline_s, self.reference_tau)
                             for j, job in enumerate(sim.jobs)], axis=1)  # (n_envs, J, K)
        d = np.array([job.samples_per_cycle for job in sim.jobs], dtype=np.float64)[None, :, None]
        with np.errstate(divide="ignore"):
            relative = np.exp(np.mean(np.log(capacity / d), axis=1))  # geometric mean of c_kj / d_j over jobs
        weights = p.weights / p.weights.sum()
        rate_down, rate_up = world.rates_bps()
        outage, drop = self.predictor.predict()
        snapshot = WorldSnapshot(
            rate_down_bps=rate_down, rate_up_bps=rate_up, cpu_hz=world.cpu_available_hz(),
            capacity=relative * self.scenario.samples_per_cycle, battery_j=st.battery_j, position_m=st.position_m,
            previous_share=self.previous_share, task_caps=sim.task_caps.sum(axis=1), velocity_mps=st.velocity_mps,
            in_coverage=world.in_coverage, outage_probability=outage, compute_drop_probability=drop, cycle=st.cycle,
            val_loss=bounded_loss(sim.loss, np.array(sim.num_classes)) @ weights, val_accuracy=sim.accuracy @ weights,
            orchestrator_m=st.orchestrator_m, orchestrator_velocity_mps=st.orchestrator_velocity_mps,
            orchestrator_battery_j=st.orchestrator_battery_j)
        jobs = JobSnapshot(sim.task_caps, capacity, self.previous_job, sim.loss, sim.accuracy, self.done,
                           sim.job_open, sim.arrivals.cycles_left(st.cycle))
        obs = p.layout.encode({"world": snapshot, "jobs": jobs})
        self._last_obs = obs.copy()  # the masks' source: the caller may change the array it gets
        return obs

    def split_amount(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(the assignment part (n_envs, K), the samples n_j (n_envs, J) each job's plan hands out: d_j where the
        action has no amount)."""
        d = np.array([job.samples_per_cycle for job in self.sim.jobs], dtype=np.int64)
        K = self.scenario.num_learners
        if not self.has_amount:
            return actions, np.broadcast_to(d, (self.n_envs, len(d))).copy()
        return actions[:, :K], self.samples_from_amount(actions[:, K:], d)

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        actions, samples = self.split_amount(self.validate(self.planned(self.check_shape(actions))))
        assignment, task_sizes, iterations, job_tau = self.plan(actions, samples)
        was_open = self.sim.job_open
        out = self.sim.step(assignment, task_sizes, iterations)
        p, r, s, sim = self.problem, self.params.reward, self.scenario, self.sim
        classes = np.array(sim.num_classes)
        job_loss = bounded_loss(out.loss_after, classes)  # (n_envs, J)
        completed = was_open & ~self.done & (out.accuracy_after >= self.targets)  # reached the target in time
        if r.metric == "loss":
            gain = bounded_loss(out.loss_before, classes) - job_loss
        elif r.metric == "accuracy":
            gain = out.accuracy_after - out.accuracy_before
        else:  # value: w_j once, when job j reaches its target while open
            gain = completed.astype(np.float64)
        serves = assignment[:, None, :] == np.arange(sim.num_jobs)[None, :, None]  # (n_envs, J, K)
        work = np.where(serves & out.finished[:, None, :], (task_sizes * iterations)[:, None, :], 0).sum(axis=2)
        d = np.array([job.samples_per_cycle for job in sim.jobs], dtype=np.float64)
        parts = {
            "reward_lql": r.scale * (gain @ p.weights),
            "reward_tau_bonus": r.tau_bonus * (work / (d * s.max_local_iterations)) @ p.weights,
            "reward_energy_penalty": r.energy_penalty_per_j * out.energy_j.sum(axis=1),
            "reward_straggler_penalty": r.straggler_penalty * (out.stragglers | out.over_cap).sum(axis=1),
        }
        reward = (parts["reward_lql"] + parts["reward_tau_bonus"] - parts["reward_energy_penalty"]
                  - parts["reward_straggler_penalty"])
        self.done |= completed
        self.previous_job = assignment
        self.previous_share = np.where(assignment >= 0, task_sizes / d[np.maximum(assignment, 0)], 0.0)
        targeted = np.isfinite(self.targets)
        success = targeted.any() & (self.done | ~targeted).all(axis=1)
        terminated = success & self.params.terminate_on_target
        truncated = (sim.world.state.cycle >= self.params.horizon_cycles) & ~terminated
        trained = np.maximum(work.sum(axis=1), 1)  # tau: the jobs' taus weighted by the work each trained
        diverged = ~(np.isfinite(out.loss_after) & (out.loss_after < loss_bound_nats(classes)))  # (n_envs, J)
        info = {
            "cycle": sim.world.state.cycle.copy(),
            "tau": np.where(work.sum(axis=1) > 0, (job_tau * work).sum(axis=1) / trained, 0.0),
            **learner_info(out),
            "assignment": assignment.copy(),
            "job_tau": job_tau,
            "job_sample_fraction": samples / d,
            "job_learners": serves.sum(axis=2),
            "job_gain": gain,
            "job_done": self.done.copy(),
            "job_completed": completed,
            "job_model_diverged": diverged,
            "model_diverged": diverged.any(axis=1),
            **self._score_info(out.accuracy_after, out.loss_after, out.test_accuracy_after, out.test_loss_after),
            **parts,
        }
        if targeted.any():
            info["is_success"] = success
        if sim.arrivals.enabled:
            info["job_open"] = sim.job_open
            info["job_cycles_left"] = sim.arrivals.cycles_left(sim.world.state.cycle)
            info["value_earned"] = (completed * p.weights).sum(axis=1)
        return self.observe(), reward, terminated, truncated, info

    def reset_info(self) -> dict[str, np.ndarray]:
        sim = self.sim
        return {"cycle": sim.world.state.cycle.copy(),
                **self._score_info(sim.accuracy, sim.loss, sim.test_accuracy, sim.test_loss), "job_done": self.done.copy()}

    def _score_info(self, val_accuracy: np.ndarray, val_loss: np.ndarray, test_accuracy: np.ndarray,
                    test_loss: np.ndarray) -> dict[str, np.ndarray]:
        """The jobs' scores ((n_envs, J) each) as info entries: per job (``job_accuracy`` / ``job_loss`` on the test
        split, ``job_val_accuracy`` / ``job_val_loss`` on the validation split) and their w-weighted means
        (:func:`~mel_gym.envs.core.score_info`'s keys)."""
        classes = np.array(self.sim.num_classes)
        weights = self.problem.weights / self.problem.weights.sum()
        per_job = score_info(val_accuracy, val_loss, test_accuracy, test_loss, classes)
        return {**{key: value @ weights for key, value in per_job.items()},
                "job_accuracy": per_job["test_accuracy"], "job_loss": per_job["test_loss"],
                "job_val_accuracy": per_job["val_accuracy"], "job_val_loss": per_job["val_loss"]}


class MultiJobEnv(MELEnv):
    """Several MEL jobs at once: each cycle, assign every learner to one of J jobs or leave it idle.

    J jobs (scenario key ``jobs``; the ``multijob`` preset: three jobs on different classes of the 8x8 digits, FL)
    share the K learners of one world. Each job has its own model and data, deadline T_j, samples per cycle d_j,
    importance w_j and target accuracy. A job whose validation accuracy reaches its target is done and needs nobody.

    ## Action space

    ``MultiDiscrete([J + 1] * K)``: 0 = learner k idles, j + 1 = it serves job j. A learner sent to a job it cannot
    serve (see ``action_masks()``) idles. Each job's learners get HA-Sync's task sizes for the samples they hold,
    min(d_j, their data of the job), and run the largest common tau within T_j (and their energy limits); a job
    whose learners cannot run one iteration idles them. Values outside [0, J] or a wrong shape raise
    ``ValueError`` and leave the env as it was.

    ``env.action_masks()`` (and the vector env's, one row per sub-env): (K (J + 1),) bool, learner after learner,
    as sb3-contrib's ``MaskablePPO`` reads it: idle is always allowed; job j where the learner can take part
    (battery, coverage, CPU), holds job j's data (FL), can exchange job j's model within T_j, and job j is not done.

    ## Amount and planner actions

    With ``amount_action=True`` the action ends with the amount levels, one per job
    (``MultiDiscrete([J + 1] * K + [L] * J)``, each job j handing out n_j of its d_j; ``action_masks()`` allows every
    level): the plan hands out n = max(1, round(f d)) of the cycle's d samples, f = min_fraction + (1 -
    min_fraction)(a + 1) / 2 (docs/envs.md); the info adds ``job_sample_fraction`` (J,), and ``samples_planned`` /
    ``samples_processed`` per learner come always.
    ``action_mode="planner"``: the action is ``Box(-1, 1, (2J,))``, the knobs of the planner ``milp-fraction`` (each
    job's fraction and value weight), which plans the full action from the observation.

    ## Observation space

    ``Box(float32, (14K + 3 + 3JK + 3J,))``: the world in TaskAllocation-v0's layout, then J blocks of K holdings, J
    blocks of K log capacities, J blocks of K served-last-cycle flags (block j: job j), then the J jobs' validation
    losses, their J validation accuracies and their J done flags (:mod:`mel_gym.envs.multijob_problem`;
    ``env.unwrapped.problem.decode(obs)``).

    ## Reward

    ``scale x sum_j w_j gain_j + tau_bonus x sum_j w_j (sum_k d_k tau_k of its learners that finished) / (d_j
    max_local_iterations) - energy and straggler penalties``; gain_j = job j's validation-loss decrease over the cycle
    (``reward.metric: loss``; losses bounded at 10 ln(classes)) or accuracy increase (``accuracy``). Parameters:
    :class:`mel_gym.envs.params.MultiJobParams`.

    ## Episode

    Truncated after ``horizon_cycles``; with ``terminate_on_target``, terminated once every job with a target is
    done.

    ## Info

    As TaskAllocation-v0's per-learner entries (``task_sizes``, ``time_s``, ``energy_j``, ``participants``,
    ``stragglers``, ...) plus ``assignment`` (K,) (-1: idle), ``job_tau``, ``job_learners``, ``job_gain``,
    ``job_accuracy``, ``job_loss`` (test split), ``job_val_accuracy``, ``job_val_loss`` (validation split, what the
    gains, targets and observation use), ``job_done``, ``job_model_diverged`` (J,); ``model_diverged`` if any job's
    model diverged; ``tau`` is the jobs' tau weighted by the work each trained, ``test_accuracy``, ``test_loss``,
    ``val_accuracy`` and ``val_loss`` the w-weighted means over jobs; ``is_success`` (every job with a target is
    done, on the validation split) when some job has a target.
    """

    core_class = MultiJobCore

    def action_masks(self) -> np.ndarray:
        """(K (J + 1),) bool: the values each learner may take this cycle (see the class docstring)."""
        if self._needs_reset and self._last_obs is None:
            raise RuntimeError("call reset() before action_masks()")
        return self.core.action_masks()[0]


class MultiJobVectorEnv(vector_env_class(MultiJobEnv)):
    """Native vector env of :class:`MultiJobEnv`, with the action masks of every sub-env."""

    def action_masks(self) -> np.ndarray:
        """(num_envs, K (J + 1)) bool: each sub-env's :meth:`MultiJobEnv.action_masks` for its coming cycle."""
        if not self._was_reset:
            raise RuntimeError("call reset() before action_masks()")
        return self.core.action_masks()
