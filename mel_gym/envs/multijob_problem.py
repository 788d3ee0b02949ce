"""The public side of MultiJob-v0: its observation layout and what a baseline may know (docs/multijob.md).

Observation (K learners, J jobs), ``Box(float32, (14K + 3 + 3JK + 3J,))``, with arrivals (scenario section
``arrivals``) ``2J`` more:

| entries               | feature                                                                        |
|-----------------------|--------------------------------------------------------------------------------|
| 0 .. 14K + 2          | the world, TaskAllocation-v0's layout (:mod:`mel_gym.envs.observation`): rates, CPU, battery, positions, velocities, coverage, predicted outages; there its log capacity is the mean over jobs of the job blocks' (clipped after), previous share = d_k / d_j of the job the learner served last cycle, task cap = the samples it holds over all jobs / d, and the validation loss and accuracy the weighted means over jobs (weights w_j) |
| then J blocks of K    | holding: samples of job j learner k holds / d_j (FL; 1 in PL: the orchestrator sends them) |
| then J blocks of K    | log capacity for job j: ln(c_kj / (d_j / K)) / 3 clipped to [-2, 2], c_kj = (T_j - C0_kj) / (C2_kj tau_ref + C1_kj) with job j's model, deadline and tau_ref = max_local_iterations / 4 |
| then J blocks of K    | served job j last cycle (1) or not (0)                                          |
| then J                | job j's last validation loss / ln(classes), clipped at 10                       |
| then J                | job j's last validation accuracy (on its own classes)                           |
| then J                | job j is done (its validation accuracy reached its target) (1) or not (0)       |
| then J (with arrivals) | job j is open (arrived, deadline not passed) (1) or not (0)                   |
| then J (with arrivals) | job j's open cycles left, this one included / arrivals.deadline_max_cycles (0 where not open) |

:class:`MultiJobProblem` decodes it (:class:`MultiJobObservation`) and gives each job's planning view (its time
and energy coefficients from the observed rates and CPUs, its deadline and samples) and the action mask.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from mel_gym.envs.action_blocks import ActionLayout
from mel_gym.envs.action_maps import (action_from_level, fraction_from_action, level_from_fraction,
                                      samples_from_fraction)
from mel_gym.envs.features import FeatureBlock, FeatureLayout
from mel_gym.envs.observation import LOG_CAPACITY_CLIP, LOSS_FEATURE_MAX, DecodedObservation, bounded_loss
from mel_gym.envs.topology_view import WorldBlocksView
from mel_gym.envs.problem import AllocationProblem, per_learner_rows
from mel_gym.simulation.jobs import Job
from mel_gym.world.costs import CycleCoefficients, EnergyBudget

#: Per-learner blocks of each job, in order (J blocks of K values each).
JOB_LEARNER_FEATURES = ("holding", "job_log_capacity", "served")
#: Per-job globals, in order (J values each).
JOB_GLOBAL_FEATURES = ("job_loss", "job_accuracy", "job_done")
#: Per-job globals added with arrivals (J values each).
ARRIVAL_FEATURES = ("job_open", "job_cycles_left")
#: beta of the per-job log capacity.
CAPACITY_BETA = 3.0


@dataclass
class MultiJobObservation:
    """Named arrays of MultiJob-v0 observations (..., size): the world and the jobs' state."""

    world: DecodedObservation
    holding: np.ndarray  # (..., J, K) samples of job j learner k can train on (d_j in PL)
    log_capacity: np.ndarray  # (..., J, K) the capacity feature
    previous_job: np.ndarray  # (..., K) int, the job learner k served last cycle (-1: none)
    job_loss: np.ndarray  # (..., J) nats
    job_accuracy: np.ndarray  # (..., J)
    job_done: np.ndarray  # (..., J) bool
    job_open: np.ndarray  # (..., J) bool: arrived and deadline not passed (always true without arrivals)
    job_cycles_left: np.ndarray  # (..., J) open cycles left, this one included (inf without arrivals, 0 not open)


@dataclass
class JobSnapshot:
    """The jobs' state of the coming cycle, the :class:`JobFeatures` block's source: holding and capacity (n, J, K)
    samples, the job each learner served last cycle (n, K) (-1: none), (n, J) losses (nats), accuracies, done flags
    and, with arrivals, open flags and open cycles left."""

    holding: np.ndarray
    capacity: np.ndarray
    previous_job: np.ndarray
    job_loss: np.ndarray
    job_accuracy: np.ndarray
    job_done: np.ndarray
    job_open: np.ndarray | None = None
    cycles_left: np.ndarray | None = None


class JobFeatures(FeatureBlock):
    """MultiJob-v0's feature block after the world's (the module table): J blocks of K holdings, log capacities and
    served flags, then the jobs' losses, accuracies, done flags (and with arrivals open flags and cycles left)."""

    name = "jobs"
    source = "jobs"

    def __init__(self, problem: "MultiJobProblem"):
        self.p = problem

    @property
    def size(self) -> int:
        p = self.p
        globals_ = len(JOB_GLOBAL_FEATURES) + (len(ARRIVAL_FEATURES) if p.arrivals else 0)
        return len(JOB_LEARNER_FEATURES) * p.num_jobs * p.num_learners + globals_ * p.num_jobs

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        J, K = self.p.num_jobs, self.p.num_learners
        extra = len(ARRIVAL_FEATURES) * J if self.p.arrivals else 0
        holding_max = max(1.0, self.p.holding_max)
        low = np.concatenate([np.zeros(J * K), np.full(J * K, -LOG_CAPACITY_CLIP), np.zeros(J * K),
                              np.zeros(3 * J + extra)])
        high = np.concatenate([np.full(J * K, holding_max), np.full(J * K, LOG_CAPACITY_CLIP), np.ones(J * K),
                               np.full(J, LOSS_FEATURE_MAX), np.ones(2 * J + extra)])
        return low, high

    def encode(self, jobs: JobSnapshot) -> np.ndarray:
        p = self.p
        d = np.array([job.samples_per_cycle for job in p.jobs], dtype=np.float64)[None, :, None]
        K = p.num_learners
        with np.errstate(divide="ignore"):
            log_capacity = np.clip(np.log(jobs.capacity / (d / K)) / CAPACITY_BETA, -LOG_CAPACITY_CLIP,
                                   LOG_CAPACITY_CLIP)
        served = jobs.previous_job[:, None, :] == np.arange(p.num_jobs)[None, :, None]
        classes = np.array(p.num_classes)
        loss = bounded_loss(jobs.job_loss, classes) / np.log(classes)
        n = len(jobs.holding)
        parts = [(jobs.holding / d).reshape(n, -1), log_capacity.reshape(n, -1), served.reshape(n, -1), loss,
                 jobs.job_accuracy, jobs.job_done]
        if p.arrivals:
            parts += [jobs.job_open, np.minimum(jobs.cycles_left / p.deadline_max_cycles, 1.0)]
        return np.concatenate(parts, axis=1)

    def decode(self, values: np.ndarray) -> dict[str, np.ndarray]:
        p = self.p
        J, K = p.num_jobs, p.num_learners
        block = lambda f: values[..., f * J * K : (f + 1) * J * K].reshape(values.shape[:-1] + (J, K))  # noqa: E731
        g = values[..., 3 * J * K :]
        d = np.array([job.samples_per_cycle for job in p.jobs], dtype=np.float64)[:, None]
        served = block(2) > 0.5
        if p.arrivals:
            job_open = g[..., 3 * J : 4 * J] > 0.5
            cycles_left = np.round(g[..., 4 * J : 5 * J] * p.deadline_max_cycles)
        else:
            job_open, cycles_left = np.ones(g.shape[:-1] + (J,), dtype=bool), np.full(g.shape[:-1] + (J,), np.inf)
        return dict(holding=np.round(block(0) * d), log_capacity=block(1),
                    previous_job=np.where(served.any(axis=-2), served.argmax(axis=-2), -1),
                    job_loss=g[..., :J] * np.log(np.array(p.num_classes, dtype=np.float64)),
                    job_accuracy=g[..., J : 2 * J], job_done=g[..., 2 * J : 3 * J] > 0.5, job_open=job_open,
                    job_cycles_left=cycles_left)


@dataclass(frozen=True)
class MultiJobProblem(WorldBlocksView):
    """The public constants of a MultiJob-v0 scenario: the world's (``world``, whose codec encodes the first
    14K + 3 entries), each job's (``jobs``) and its planning view (``job_problems[j]``: the world's problem with
    job j's cost model, deadline T_j and samples d_j)."""

    actions: ActionLayout  # the raw action's declared blocks: the job choice, then the amounts
    world: AllocationProblem
    jobs: tuple[Job, ...]
    job_problems: tuple[AllocationProblem, ...]
    num_classes: tuple[int, ...]
    holding_max: float  # the largest holding / d_j a learner can have (every training sample of a job)
    amount_action: bool = False  # the raw action ends with J amount levels (each job's fraction of d_j)
    min_fraction: float = 0.05  # the amount's smallest fraction
    fraction_levels: int = 20  # the amount's levels
    job_fractions: tuple[float, ...] | None = None  # the fractions of d_j this view plans for (None: all 1)
    action_mode: str = "raw"  # the env's action: its raw action, or its planner's knobs
    planner_name: str = "milp-fraction"  # the env's planner (a baseline with planner knobs, mel_gym.agents)
    deadline_max_cycles: int | None = None  # with arrivals: the longest deadline (the cycles-left scale); else None

    @property
    def arrivals(self) -> bool:
        """Jobs arrive with deadlines: the observation adds :data:`ARRIVAL_FEATURES`."""
        return self.deadline_max_cycles is not None

    @property
    def fractions(self) -> np.ndarray:
        """(J,) the fraction of d_j each job's plan processes in this view."""
        return np.ones(self.num_jobs) if self.job_fractions is None else np.array(self.job_fractions)

    def planned_samples(self, j: int) -> int:
        """n_j = max(1, round(f_j d_j)): the samples job j's plan hands out in this view."""
        return int(samples_from_fraction(self.fractions[j], self.jobs[j].samples_per_cycle))

    def with_fractions(self, fractions: np.ndarray) -> "MultiJobProblem":
        """This view for plans that process the fractions ``fractions`` (J,) of each job's d_j, as the env reads
        them back from the amount levels :meth:`encode_assignment` appends.

        Raises:
            ValueError: a fraction outside (0, 1], or one < 1 where the action has no amount (``amount_action``).
        """
        f = np.broadcast_to(np.asarray(fractions, dtype=np.float64), (self.num_jobs,))
        if not np.all((f > 0) & (f <= 1)):
            raise ValueError(f"job fractions {f.tolist()} must lie in (0, 1]")
        if np.all(f >= 1):
            return self if self.job_fractions is None else dataclasses.replace(self, job_fractions=None)
        if not self.amount_action:
            raise ValueError("plans for a fraction of a job's samples need an env whose action has the amount: env "
                             "parameter amount_action=True")
        levels = self.amount_levels(f)
        read = fraction_from_action(action_from_level(levels, self.fraction_levels), self.min_fraction)
        return dataclasses.replace(self, job_fractions=tuple(float(x) for x in read))

    def amount_levels(self, fractions: np.ndarray | None = None) -> np.ndarray:
        """(J,) int: the amount levels of ``fractions`` (default: this view's)."""
        f = self.fractions if fractions is None else fractions
        return level_from_fraction(f, self.min_fraction, self.fraction_levels)

    @property
    def num_jobs(self) -> int:
        return len(self.jobs)

    @property
    def max_local_iterations(self) -> int:
        return self.world.max_local_iterations

    @property
    def weights(self) -> np.ndarray:
        """(J,) the jobs' importance w_j."""
        return np.array([job.weight for job in self.jobs])

    @property
    def targets(self) -> np.ndarray:
        """(J,) the jobs' target accuracies, 1 for a job without one (its gap is then what it misses of all)."""
        return np.array([1.0 if job.target_accuracy is None else job.target_accuracy for job in self.jobs])

    @cached_property
    def layout(self) -> FeatureLayout:
        """The observation's feature blocks: the world's, then :class:`JobFeatures` (built once per view)."""
        return FeatureLayout(self.world.codec.blocks + (JobFeatures(self),))

    def agent_observations(self, obs: np.ndarray) -> np.ndarray:
        """(K, 17 + 6J (+ 2J with arrivals)): learner k's 14 world features and its 3J job features (holding, log
        capacity, served last cycle), then the world's 3 globals and the jobs' (the multi-agent view)."""
        K, J = self.num_learners, self.num_jobs
        rest = np.asarray(obs)[self.world.codec.size :]
        job_rows = rest[: 3 * J * K].reshape(3 * J, K).T
        return per_learner_rows(obs, self.world.codec, job_rows, rest[3 * J * K :])

    @property
    def learner_choices(self) -> int:
        """Each learner's choices: idle (0) or job j (j + 1)."""
        return self.num_jobs + 1

    def action_from_choices(self, choices: np.ndarray) -> np.ndarray:
        """The raw action of the learners' choices (the multi-agent view, whose action has no amount)."""
        return np.asarray(choices, dtype=np.int64)

    @property
    def job_names(self) -> tuple[str, ...]:
        return tuple(f"{job.name} (w {job.weight:g}, target {job.target_accuracy})" for job in self.jobs)

    def decode(self, obs: np.ndarray) -> MultiJobObservation:
        """Invert the encoding for observations of shape (..., size)."""
        named = self.layout.decode(obs, f"observation (K={self.num_learners}, J={self.num_jobs})")
        jobs = {name: named.pop(name) for name in MultiJobObservation.__dataclass_fields__ if name in named}
        return MultiJobObservation(world=self.world.codec.decoded(named), **jobs)

    # ------------------------------------------------------------------------------------------------ planning
    def coefficients(self, decoded: MultiJobObservation, j: int) -> CycleCoefficients:
        """Job j's planned-time coefficients (..., K) from the observed rates and CPUs."""
        return self.job_problems[j].coefficients(decoded.world)

    def energy_budget(self, decoded: MultiJobObservation, j: int) -> EnergyBudget | None:
        """Job j's energy side of the coming cycle (None without energy limits)."""
        return self.job_problems[j].energy_budget(decoded.world)

    def can_serve(self, decoded: MultiJobObservation) -> np.ndarray:
        """(..., J, K) bool, for one observation or a batch: learner k can serve job j this cycle: it can take part
        (battery, coverage, CPU), holds job j's data, job j is open (with arrivals) and not done, and the learner can
        exchange job j's model within T_j."""
        exchange = np.stack([self.coefficients(decoded, j).c0 < job.cycle_deadline_s for j, job in enumerate(self.jobs)],
                            axis=-2)
        serviceable = decoded.job_open & ~decoded.job_done
        return decoded.world.available[..., None, :] & (decoded.holding > 0) & serviceable[..., None] & exchange

    def learner_mask(self, decoded: MultiJobObservation) -> np.ndarray:
        """(..., K (J + 1)) bool, learner after learner: idle (0) always allowed, job j (value j + 1) where
        :meth:`can_serve`."""
        allowed = self.can_serve(decoded)  # (..., J, K)
        idle = np.ones(allowed.shape[:-2] + (1, self.num_learners), dtype=bool)
        both = np.concatenate([idle, allowed], axis=-2)  # (..., J + 1, K)
        return np.swapaxes(both, -1, -2).reshape(allowed.shape[:-2] + (-1,))

    def action_mask(self, decoded: MultiJobObservation) -> np.ndarray:
        """sb3-contrib's MultiDiscrete mask layout: :meth:`learner_mask`, then, where the action has the amount,
        every level of each job's amount allowed ((..., K (J + 1) + J L) bool)."""
        mask = self.learner_mask(decoded)
        if not self.amount_action:
            return mask
        levels = np.ones(mask.shape[:-1] + (self.num_jobs * self.fraction_levels,), dtype=bool)
        return np.concatenate([mask, levels], axis=-1)

    def encode_assignment(self, assignment: np.ndarray) -> np.ndarray:
        """The action that carries out ``assignment`` (K,) (-1: idle, else the job index): value j + 1, idle 0; then,
        where the action has the amount, each job's level of this view's fraction."""
        action = np.asarray(assignment, dtype=np.int64) + 1
        if self.amount_action:
            action = np.concatenate([action, self.amount_levels()])
        return action.astype(np.int64)


def job_problem(world: AllocationProblem, job: Job, cost) -> AllocationProblem:
    """The world's problem seen by one job: its cost model, deadline and samples per cycle."""
    return dataclasses.replace(world, cost=cost,
                               samples_per_cycle=job.samples_per_cycle)
