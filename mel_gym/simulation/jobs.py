"""Several learning jobs at once: J jobs share the K learners of one world (MultiJob-v0; docs/multijob.md).

Each job j has its own model, data (a data set, or some of its classes), deadline T_j, samples per cycle d_j,
importance w_j and target accuracy (:class:`mel_gym.config.JobConfig`). In a cycle every learner serves at most
one job; the physics is the single-job simulator's (:func:`mel_gym.simulation.run_physics`) with each learner charged
for its own job's model, samples and deadline. Learning: the jobs that share a data set, a model shape and a
step size form a group, and a group's models of all envs are one stack of (n_envs x jobs in the group) models:
one batched local-training call and one evaluation per group and cycle, each job scored on its own classes.

FL: at reset each job's training samples are split (``learning.partition``) among the learners that hold its
data, a random ``data_fraction`` of them (at least one); only they can serve that job. PL: the orchestrator
draws d_j fresh samples of the job every cycle, and every learner can serve every job.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from mel_gym.arrivals import JobArrivals
from mel_gym.config import Scenario
from mel_gym.learning.datasets import Dataset, load_dataset
from mel_gym.learning.model import MLPSpec, Weights
from mel_gym.learning.partition import LearnerPools, make_partition, slice_consecutive
from mel_gym.learning.trainer import FLTrainer
from mel_gym.schema import ConfigError
from mel_gym.simulation.base import SimulatorBase
from mel_gym.simulation.cycle import Decision, Outcome, run_physics
from mel_gym.world.costs import CostModel, CycleCoefficients, EnergyBudget


@dataclass(frozen=True)
class Job:
    """A job with the scenario's defaults filled in. Units: s, samples, cycles."""

    name: str
    dataset: str
    labels: tuple[int, ...]  # () = every class
    hidden_layers: tuple[int, ...]
    learning_rate: float
    cycle_deadline_s: float  # T_j
    samples_per_cycle: int  # d_j
    cycles_per_sample: float  # C_m of its model
    weight: float  # w_j
    target_accuracy: float | None
    data_fraction: float


def resolve_jobs(s: Scenario) -> list[Job]:
    """The scenario's jobs with null keys taken from ``learning.*`` and the scenario (ConfigError if none)."""
    if not s.jobs:
        raise ConfigError("scenario key 'jobs' is empty: MultiJob-v0 needs at least one job (e.g. scenario "
                          "'multijob')")
    ln = s.learning
    return [Job(name=job.name or f"job{i}", dataset=job.dataset or ln.dataset, labels=tuple(job.labels),
                hidden_layers=tuple(ln.hidden_layers if job.hidden_layers is None else job.hidden_layers),
                learning_rate=ln.learning_rate if job.learning_rate is None else job.learning_rate,
                cycle_deadline_s=s.cycle_deadline_s if job.cycle_deadline_s is None else job.cycle_deadline_s,
                samples_per_cycle=s.samples_per_cycle if job.samples_per_cycle is None else job.samples_per_cycle,
                cycles_per_sample=(s.compute.cycles_per_sample if job.cycles_per_sample is None
                                   else job.cycles_per_sample),
                weight=job.weight, target_accuracy=job.target_accuracy, data_fraction=job.data_fraction)
            for i, job in enumerate(s.jobs)]


@dataclass
class JobGroup:
    """Jobs trained in one stack: the same data set, model shape and step size. ``jobs``: their indices."""

    trainer: FLTrainer
    jobs: list[int]
    sample_mask: torch.Tensor  # (len(jobs), n_eval) bool: each job's validation and test samples
    weights: Weights | None = None  # (n_envs * len(jobs), ...), row env * len(jobs) + position of the job


class MultiJobSimulator(SimulatorBase):
    """Batched physics of one world plus J jobs' FL training (see the module docstring).

    Args:
        scenario: a :class:`Scenario` with ``jobs``.
        n_envs: independent worlds stepped together.
        device: torch device of the trainers.
    """

    def __init__(self, scenario: Scenario, n_envs: int = 1, device: str | torch.device = "cpu"):
        super().__init__(scenario, n_envs, device)
        s = scenario
        self.jobs = resolve_jobs(s)
        self.num_jobs = len(self.jobs)
        ln = s.learning
        self.costs: list[CostModel] = []
        self.num_classes: list[int] = []
        self.train_ids: list[np.ndarray] = []  # each job's training samples (indices into its data set's train split)
        self.train_labels: list[np.ndarray] = []
        groups: dict[tuple, JobGroup] = {}
        for j, job in enumerate(self.jobs):
            data = load_dataset(job.dataset, ln.data_dir, ln.test_fraction, ln.split_seed, ln.validation_fraction)
            spec = MLPSpec.build(data.num_features, job.hidden_layers, data.num_classes)
            ids = self._job_samples(j, job, data)
            self.train_ids.append(ids)
            self.train_labels.append(np.asarray(data.y_train)[ids])
            self.num_classes.append(data.num_classes)
            if s.mode == "pl" and len(ids) < job.samples_per_cycle:
                raise ConfigError(f"scenario key 'jobs[{j}].samples_per_cycle' = {job.samples_per_cycle} exceeds the "
                                  f"job's {len(ids)} training samples")
            if s.mode == "fl" and len(ids) < s.num_learners:
                raise ConfigError(f"scenario key 'jobs[{j}]': {len(ids)} training samples cannot give each of "
                                  f"{s.num_learners} learners one")
            self.costs.append(CostModel(
                model_bits=float(spec.num_parameters * ln.bits_per_parameter),
                sample_bits=float((data.num_features + 1) * ln.bits_per_feature), sends_data=s.mode == "pl",
                cycles_per_sample=job.cycles_per_sample, kappa=s.compute.kappa, cycle_deadline_s=job.cycle_deadline_s))
            key = (job.dataset, spec.layer_sizes, job.learning_rate)
            if key not in groups:
                trainer = FLTrainer(spec, data, self.device, job.learning_rate, ln.local_batch_size, ln.kernel,
                                    ln.max_test_samples, ln.split_seed)
                groups[key] = JobGroup(trainer, [], torch.zeros((0, len(trainer.y_eval)), dtype=torch.bool))
            group = groups[key]
            labels = torch.as_tensor(job.labels or range(data.num_classes), device=self.device)
            scored = torch.isin(group.trainer.y_eval, labels)
            n_val = group.trainer.num_validation
            for split, part in (("validation", scored[:n_val]), ("test", scored[n_val:])):
                if len(part) and not bool(part.any()):
                    raise ConfigError(f"scenario key 'jobs[{j}].labels' = {list(job.labels)}: none of the {split} "
                                      f"samples (learning.max_test_samples = {ln.max_test_samples}) is of these classes")
            group.sample_mask = torch.cat([group.sample_mask.to(self.device), scored[None]])
            group.jobs.append(j)
        self.groups = list(groups.values())
        self.arrivals = JobArrivals(s.arrivals, n_envs, self.num_jobs)
        self.init_scores((n_envs, self.num_jobs))
        J, K = self.num_jobs, self.num_learners
        width = max(int(np.ceil(len(ids) / K)) for ids in self.train_ids) if s.mode == "fl" else 1
        self.pools = LearnerPools((n_envs, J, K), width)  # FL: who holds which samples of each job
        if s.mode == "pl":
            self.pools.size[:] = np.array([job.samples_per_cycle for job in self.jobs])[None, :, None]

    @staticmethod
    def _job_samples(j: int, job: Job, data: Dataset) -> np.ndarray:
        if not job.labels:
            return np.arange(len(data.y_train))
        bad = [c for c in job.labels if c >= data.num_classes]
        if bad:
            raise ConfigError(f"scenario key 'jobs[{j}].labels' = {list(job.labels)}: data set '{job.dataset}' has "
                              f"classes 0..{data.num_classes - 1}")
        return np.flatnonzero(np.isin(np.asarray(data.y_train), job.labels))

    # ------------------------------------------------------------------------------------------------ reset
    def reset(self, seeds: Sequence[int | np.random.SeedSequence], env_ids: Sequence[int] | None = None) -> None:
        """Fresh episodes in ``env_ids`` (default all): world, the jobs' arrivals, data holders and pools, and every
        job's model."""
        env_ids = list(range(self.n_envs)) if env_ids is None else list(env_ids)
        rng_data, rng_init, rng_events = self.start_episodes(seeds, env_ids)
        self.arrivals.reset(env_ids, rng_events)
        if self.scenario.mode == "fl":
            for i, rng in zip(env_ids, rng_data):
                self._reset_pools(i, rng)
        ids = torch.as_tensor(env_ids, device=self.device)
        for group in self.groups:
            n = len(group.jobs)
            fresh = group.trainer.init_global([rng for rng in rng_init for _ in range(n)])
            if group.weights is None:
                group.weights = [(w.new_zeros((self.n_envs * n, *w.shape[1:])), b.new_zeros((self.n_envs * n, *b.shape[1:])))
                                 for w, b in fresh]
            rows = (ids[:, None] * n + torch.arange(n, device=self.device)).reshape(-1)
            for (gw, gb), (fw, fb) in zip(group.weights, fresh):
                gw[rows], gb[rows] = fw, fb
            self._evaluate(group, rows)
        self.finish_reset(env_ids)

    def _reset_pools(self, i: int, rng: np.random.Generator) -> None:
        """Env ``i``: who holds each job's data and the split of its samples among them."""
        ln, K = self.scenario.learning, self.num_learners
        per_job = []
        for j, job in enumerate(self.jobs):
            holders = np.sort(rng.choice(K, max(1, int(round(job.data_fraction * K))), replace=False))
            pools = make_partition(rng, self.train_labels[j], len(holders), ln.partition, ln.dirichlet_alpha,
                                   ln.shards_per_learner)
            mine = [np.zeros(0, dtype=np.int64)] * K
            for k, pool in zip(holders, pools):
                mine[k] = self.train_ids[j][pool]
            per_job.append(mine)
        self.pools.store(i, per_job)

    # ------------------------------------------------------------------------------------------------ planning
    @property
    def job_open(self) -> np.ndarray:
        """(n_envs, J) bool: the jobs that can be served in the coming cycle (arrived, deadline not passed)."""
        return self.arrivals.open(self.world.state.cycle)

    @property
    def task_caps(self) -> np.ndarray:
        """(n_envs, J, K) the largest d_k learner k can take for job j: d_j in PL, its data of the job in FL."""
        return self.pools.size

    def coefficients(self, j: int) -> CycleCoefficients:
        """Job j's planned-time coefficients of the coming cycle, (n_envs, K), on the channel planned with."""
        return self.costs[j].coefficients(*self.world.rates_bps(), self.world.cpu_available_hz())

    def energy_budget(self, j: int) -> EnergyBudget | None:
        """Job j's energy side of the coming cycle (None when nobody has an energy limit)."""
        limit = self.energy_limit_j()
        if not np.any(np.isfinite(limit)):
            return None
        rates = self.world.rates_bps()
        return EnergyBudget(limit, self.costs[j].energy_coefficients(rates[1], self.world.tx_power_w,
                                                                     self.world.cpu_available_hz()))

    def learner_costs(self, assignment: np.ndarray) -> CostModel:
        """One cost model whose constants are (n_envs, K) arrays: each learner's job's (idle learners: job 0's,
        unused since they spend nothing)."""
        job = np.maximum(assignment, 0)
        pick = lambda name: np.array([getattr(c, name) for c in self.costs])[job]  # noqa: E731
        return CostModel(model_bits=pick("model_bits"), sample_bits=pick("sample_bits"),
                         sends_data=self.scenario.mode == "pl", cycles_per_sample=pick("cycles_per_sample"),
                         kappa=self.scenario.compute.kappa, cycle_deadline_s=pick("cycle_deadline_s"))

    # ------------------------------------------------------------------------------------------------ step
    def _validate(self, assignment: np.ndarray, task_sizes: np.ndarray, iterations: np.ndarray) -> None:
        self.check_reset()
        shape = (self.n_envs, self.num_learners)
        for name, value in (("assignment", assignment), ("task_sizes", task_sizes), ("iterations", iterations)):
            if np.shape(value) != shape or not np.issubdtype(np.asarray(value).dtype, np.integer):
                raise ValueError(f"{name} must be integers of shape (n_envs, K) = {shape}")
        if np.any((assignment < -1) | (assignment >= self.num_jobs)):
            raise ValueError(f"assignment must lie in [-1, J - 1] = [-1, {self.num_jobs - 1}] (-1: idle)")
        closed = (assignment >= 0) & ~np.take_along_axis(self.job_open, np.maximum(assignment, 0), axis=1)
        if np.any(closed):
            i, k = np.argwhere(closed)[0]
            j = assignment[i, k]
            raise ValueError(f"assignment[{i}, {k}] = {j}: job {j} is not open in cycle {self.world.state.cycle[i]} "
                             f"(it arrives in cycle {self.arrivals.arrival[i, j]} and is due before cycle "
                             f"{self.arrivals.due[i, j]})")
        if np.any(task_sizes < 0) or np.any(iterations < 0) or np.any((assignment < 0) & (task_sizes > 0)):
            raise ValueError("task_sizes and iterations must be >= 0, and 0 for idle learners")
        caps = np.take_along_axis(self.task_caps, np.maximum(assignment, 0)[:, None, :], axis=1)[:, 0]
        if np.any(task_sizes > caps):
            i, k = np.argwhere(task_sizes > caps)[0]
            raise ValueError(f"task_sizes[{i}, {k}] = {task_sizes[i, k]} exceeds learner {k}'s cap {caps[i, k]} for "
                             f"job {assignment[i, k]}")
        if self.scenario.mode == "pl":  # the orchestrator sends job j at most its d_j samples per cycle
            serves = assignment[:, None, :] == np.arange(self.num_jobs)[None, :, None]
            totals = np.where(serves, task_sizes[:, None, :], 0).sum(axis=2)
            d = np.array([job.samples_per_cycle for job in self.jobs])
            if np.any(totals > d):
                i, j = np.argwhere(totals > d)[0]
                raise ValueError(f"task_sizes of job {j}'s learners sum to {totals[i, j]} in env {i}, more than its "
                                 f"samples_per_cycle d_j = {d[j]}")
        dead = (task_sizes > 0) & ~self.world.available
        if np.any(dead):
            raise ValueError(f"task_sizes gives samples to learners that cannot take part: {np.argwhere(dead).tolist()}")

    def step(self, assignment: np.ndarray, task_sizes: np.ndarray, iterations: np.ndarray) -> Outcome:
        """One cycle in every env: learner k serves job ``assignment`` (n_envs, K) (-1: idle) with d_k samples and
        tau_k iterations. The Outcome's losses and accuracies are (n_envs, J); the rest as the simulator's."""
        assignment, task_sizes = np.asarray(assignment), np.asarray(task_sizes)
        iterations = np.where(task_sizes > 0, np.asarray(iterations), 0)
        self._validate(assignment, task_sizes, iterations)
        decision = Decision(task_sizes=task_sizes, local_iterations=iterations)
        ph = run_physics(self.world, self.learner_costs(assignment), decision, task_sizes, iterations,
                         self.scenario.energy.cycle_cap_j)
        learns = ph.delivered & (iterations > 0)
        before = self.scores()
        sample_index = self._draw_samples(assignment, task_sizes, learns)  # (n_envs, J, K, width)
        diverged = np.zeros_like(learns)
        J_axis = np.arange(self.num_jobs)[None, :, None]
        serves = assignment[:, None, :] == J_axis  # (n_envs, J, K)
        for group in self.groups:
            jobs = group.jobs
            mine = serves[:, jobs]  # (n_envs, n, K)
            stack = lambda a: np.where(mine, a[:, None, :], 0).reshape(-1, self.num_learners)  # noqa: E731
            group.weights, lost = group.trainer.round(
                group.weights, self.num_learners, sample_index[:, jobs].reshape(-1, *sample_index.shape[2:]),
                stack(np.where(learns, task_sizes, 0)), stack(np.where(learns, iterations, 0)),
                stack(np.where(ph.delivered, task_sizes, 0)).astype(np.float64))
            diverged |= lost.reshape(self.n_envs, len(jobs), -1).any(axis=1)
            trained = (mine & (learns & ~diverged)[:, None, :]).any(axis=2).reshape(-1)
            if trained.any():
                self._evaluate(group, torch.from_numpy(np.flatnonzero(trained)).to(self.device))
        cycle = self.world.state.cycle.copy()
        self.world.advance(self._rng_world, self._rng_dynamics)
        return ph.outcome(ph.delivered & ~diverged, diverged, np.zeros_like(diverged), task_sizes, iterations,
                          before, self.scores(), cycle)

    def _evaluate(self, group: JobGroup, rows: torch.Tensor) -> None:
        """Score the group's models of flat ``rows`` (env * n + position) on their jobs' validation and test samples."""
        n = len(group.jobs)
        scores = group.trainer.evaluate([(w.index_select(0, rows), b.index_select(0, rows)) for w, b in group.weights],
                                        sample_mask=group.sample_mask.index_select(0, rows % n))
        r = rows.cpu().numpy()
        self.store_scores((r // n, np.asarray(group.jobs)[r % n]), scores)

    def _draw_samples(self, assignment: np.ndarray, task_sizes: np.ndarray, learns: np.ndarray) -> np.ndarray:
        """(n_envs, J, K, width) indices into each job's data set for the learners that train; the draws do not
        depend on the decision (same seed, same data for every policy)."""
        J = self.num_jobs
        serves = assignment[:, None, :] == np.arange(J)[None, :, None]
        sizes = np.where(serves, task_sizes[:, None, :], 0)
        trains = serves & learns[:, None, :]
        if self.scenario.mode == "fl":
            return self.pools.draw(self._rng_data, sizes, trains)
        tables = []
        for j, job in enumerate(self.jobs):
            ids = self.train_ids[j]
            order = np.stack([ids[rng.permutation(len(ids))[: job.samples_per_cycle]] for rng in self._rng_data])
            tables.append(slice_consecutive(order, sizes[:, j], keep=trains[:, j]))
        width = max(t.shape[-1] for t in tables)
        return np.stack([np.pad(t, ((0, 0), (0, 0), (0, width - t.shape[-1]))) for t in tables], axis=1)
