"""The batched MEL simulator: a Decision in, an Outcome out, for n_envs worlds of K learners at once.

One :meth:`MELSimulator.step` is one global cycle of length T in every env:

1. learners and the orchestrator move where the decision puts them (the path loss follows), then the times
   and energies of every learner follow from the decision and the current channel
   (:class:`mel_gym.world.costs.CostModel`: downlink at the orchestrator's power, uplink at the learner's);
2. a learner *takes part* when d_k > 0; it *finishes* when it meets the deadline T, stays within the
   per-cycle energy cap, its battery lasts the cycle, its link does not fail (out of coverage, a gain short
   of the scheduled one under outdated CSI, a packet error: it still spends its energy) and its local
   training stays finite; a backup (``Decision.backup_of``) counts only if its primary did not; a straggler
   (t_k > T) contributes nothing that cycle and spends what it did before T (it computes at most
   T - t_send and uploads only if its computation ended in time); a learner that reaches the energy cap or
   empties its battery stops there, spends exactly that and contributes nothing;
3. participants train locally (tau_k iterations on d_k samples; PL: fresh samples sent by the orchestrator,
   FL: a fresh subset of the learner's own pool), the orchestrator averages the finished ones weighted by
   d_k (FedAvg, or the decision's aggregation weights) and evaluates the new global model;
4. batteries drain, the orchestrator measures the cycle's channel and the world moves on to the next cycle
   (mobility, fading, shadowing, the CPU chain: :mod:`mel_gym.world.state`).

Times follow the links' scheduled rates (the rates of the gain the orchestrator plans with, see
:meth:`mel_gym.world.state.World.rates_bps`) and the CPU share each learner really has in the cycle.

Envs, baselines, tests and notebooks all drive the simulator through these plain dataclasses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from mel_gym.config import Scenario, load_scenario
from mel_gym.learning.datasets import load_dataset
from mel_gym.learning.drift import DriftProcess
from mel_gym.learning.model import MLPSpec, Weights
from mel_gym.learning.partition import LearnerPools, make_partition, slice_consecutive
from mel_gym.learning.trainer import FLTrainer, resolve_device
from mel_gym.world.costs import DEADLINE_RTOL, CostModel, CycleCoefficients, CycleCosts, EnergyBudget, EnergyCoefficients
from mel_gym.world.state import World


@dataclass
class Decision:
    """What the orchestrator decides for one cycle; arrays (n_envs, K).

    Attributes:
        task_sizes: d_k, samples learner k trains on (int >= 0; 0 = not taking part).
        local_iterations: tau_k, local iterations (int >= 0; the same for all k in synchronous MEL).
        tx_power_w: transmit power in W; None = the scenario's.
        bandwidth_hz: bandwidth in Hz; None = the scenario's.
        cpu_hz: CPU frequency in Hz; None = the learner's own (its maximum). A throttled or frozen learner
            runs at most its share of its own frequency.
        aggregation_weights: weight of each learner's model in the average (>= 0); None = d_k (FedAvg).
        learner_position_m: (n_envs, K, 2) where the learners are during this cycle, m; None = where they are.
        orchestrator_m: (n_envs, 3) the orchestrator's x, y and antenna height during this cycle, m; None =
            where it is.
        backup_of: (n_envs, K) int, the primary learner whose task learner k runs as a redundant copy (the
            same samples and tau; PL only), -1 = none. A backup's model is aggregated in place of its
            primary's only when the primary's is lost.
    """

    task_sizes: np.ndarray
    local_iterations: np.ndarray
    tx_power_w: np.ndarray | None = None
    bandwidth_hz: np.ndarray | None = None
    cpu_hz: np.ndarray | None = None
    aggregation_weights: np.ndarray | None = None
    learner_position_m: np.ndarray | None = None
    orchestrator_m: np.ndarray | None = None
    backup_of: np.ndarray | None = None


@dataclass
class Outcome:
    """What happened in one cycle; arrays (n_envs, K) unless noted. Times in s, energies in J."""

    participants: np.ndarray  # bool: d_k > 0
    finished: np.ndarray  # bool: contributed to aggregation
    stragglers: np.ndarray  # bool: took part but missed the deadline T
    depleted: np.ndarray  # bool: battery ran out during this cycle (the learner leaves)
    over_cap: np.ndarray  # bool: the cycle's energy would exceed the per-cycle cap E_max (stopped at the cap)
    diverged: np.ndarray  # bool: local training produced non-finite weights (dropped)
    outage: np.ndarray  # bool: the learner's link failed this cycle (whether or not it had a task)
    compute_dropped: np.ndarray  # bool: its CPU share this cycle was below the one it had reported
    backup_used: np.ndarray  # bool: a backup whose model stood in for its primary's
    task_sizes: np.ndarray  # int d_k as run
    local_iterations: np.ndarray  # int tau_k as run
    rate_down_bps: np.ndarray  # orchestrator -> learner rate of this cycle
    rate_up_bps: np.ndarray  # learner -> orchestrator rate of this cycle
    time_send_s: np.ndarray  # time spent receiving (at most T)
    time_compute_s: np.ndarray  # time spent computing (at most what T left)
    time_return_s: np.ndarray  # time spent uploading (0 unless the computation ended in time)
    time_s: np.ndarray  # total time spent in the cycle, <= T (0 for non-participants)
    energy_compute_j: np.ndarray
    energy_transmit_j: np.ndarray
    energy_j: np.ndarray
    loss_before: np.ndarray  # (n_envs,) test loss before the cycle, nats
    accuracy_before: np.ndarray  # (n_envs,)
    loss_after: np.ndarray  # (n_envs,)
    accuracy_after: np.ndarray  # (n_envs,)
    cycle: np.ndarray  # (n_envs,) index of the cycle just run, from 0


@dataclass
class Physics:
    """The physical side of a cycle, before any learning: who took part, what each spent and whose result reached
    the orchestrator in time and within its energy (arrays (n_envs, K); see :func:`run_physics`)."""

    participants: np.ndarray
    delivered: np.ndarray  # in time, within the cap and the battery, over a link that held
    stragglers: np.ndarray
    depleted: np.ndarray
    over_cap: np.ndarray
    outage: np.ndarray
    compute_dropped: np.ndarray
    rate_down_bps: np.ndarray
    rate_up_bps: np.ndarray
    costs: CycleCosts

    def outcome(self, finished: np.ndarray, diverged: np.ndarray, backup_used: np.ndarray, task_sizes: np.ndarray,
                iterations: np.ndarray, loss_before: np.ndarray, accuracy_before: np.ndarray, loss_after: np.ndarray,
                accuracy_after: np.ndarray, cycle: np.ndarray) -> Outcome:
        """The cycle's :class:`Outcome`, with what the learning side adds."""
        c = self.costs
        return Outcome(
            participants=self.participants, finished=finished, stragglers=self.stragglers, depleted=self.depleted,
            diverged=diverged, over_cap=self.over_cap, outage=self.outage, compute_dropped=self.compute_dropped,
            backup_used=backup_used, task_sizes=task_sizes, local_iterations=iterations,
            rate_down_bps=self.rate_down_bps, rate_up_bps=self.rate_up_bps, time_send_s=c.time_send_s,
            time_compute_s=c.time_compute_s, time_return_s=c.time_return_s, time_s=c.time_s,
            energy_compute_j=c.energy_compute_j, energy_transmit_j=c.energy_transmit_j, energy_j=c.energy_j,
            loss_before=loss_before, accuracy_before=accuracy_before, loss_after=loss_after,
            accuracy_after=accuracy_after, cycle=cycle,
        )


def run_physics(world: World, cost: CostModel, decision: Decision, task_sizes: np.ndarray, iterations: np.ndarray,
                cycle_cap_j: float | None) -> Physics:
    """Steps 1-2 of a cycle (module docstring) for validated integer ``task_sizes`` and ``iterations`` (n_envs, K):
    move what the decision moves, charge each learner its time and energy (``cost``: one model, or arrays of each
    learner's job, :mod:`mel_gym.multijob`), drain the batteries and say whose result is delivered."""
    if decision.learner_position_m is not None or decision.orchestrator_m is not None:
        world.move(decision.learner_position_m, decision.orchestrator_m)
    cpu = world.cpu_available_hz(reported=False)  # what each learner really has this cycle
    if decision.cpu_hz is not None:
        cpu = np.minimum(np.asarray(decision.cpu_hz, dtype=np.float64), cpu)
    power = world.tx_power_w if decision.tx_power_w is None else np.asarray(decision.tx_power_w)
    rate_down, rate_up = world.rates_bps(decision.tx_power_w, decision.bandwidth_hz)
    outage = world.link_outage(decision.tx_power_w, decision.bandwidth_hz)
    compute_dropped = world.compute_dropped()
    participants = task_sizes > 0
    cap_j = np.inf if cycle_cap_j is None else cycle_cap_j
    battery = world.state.battery_j
    costs = cost.spent(task_sizes, iterations, rate_down, rate_up, power, cpu,
                       energy_limit_j=np.minimum(cap_j, battery))
    wanted = costs.energy_wanted_j * (1.0 - DEADLINE_RTOL)
    over_cap = participants & (wanted > cap_j) & (cap_j <= battery)  # stopped at the cap
    depleted = participants & (wanted > battery) & (battery < cap_j)  # stopped with an empty battery
    world.drain(costs.energy_j)  # what was actually spent: never above the cap or the battery
    return Physics(participants=participants, delivered=costs.in_time & ~depleted & ~over_cap & ~outage,
                   stragglers=participants & ~costs.in_time, depleted=depleted, over_cap=over_cap, outage=outage,
                   compute_dropped=compute_dropped, rate_down_bps=rate_down, rate_up_bps=rate_up, costs=costs)


def episode_streams(seeds: Sequence[int | np.random.SeedSequence], env_ids: Sequence[int]
                    ) -> tuple[list[np.random.Generator], ...]:
    """One episode's independent generators per seed: (world, data, model initialisation, dynamics, events), each a
    list over the envs. Children 0-2 of each seed are those of the static world before the dynamics existed (the
    same draws); child 3 drives the dynamics, child 4 the learning side's events: the concept drift of the one job
    (:mod:`mel_gym.learning.drift`) or the jobs' arrivals (:mod:`mel_gym.arrivals`)."""
    if len(seeds) != len(env_ids):
        raise ValueError(f"reset got {len(seeds)} seeds for {len(env_ids)} envs")
    streams = [(s if isinstance(s, np.random.SeedSequence) else np.random.SeedSequence(s)).spawn(5) for s in seeds]
    return tuple([np.random.default_rng(st[c]) for st in streams] for c in range(5))


def start_episodes(sim: Any, seeds: Sequence[int | np.random.SeedSequence], env_ids: list[int]
                   ) -> tuple[list[np.random.Generator], list[np.random.Generator], list[np.random.Generator]]:
    """The start of a simulator's reset (:class:`MELSimulator`, :class:`mel_gym.multijob.MultiJobSimulator`): split
    the seeds (:func:`episode_streams`), keep each env's world, data and dynamics generators on ``sim`` and reset its
    world; returns the (data, model initialisation, events) generators the simulator's learning side draws from."""
    rng_world, rng_data, rng_init, rng_dynamics, rng_events = episode_streams(seeds, env_ids)
    for i, rw, rd, rdyn in zip(env_ids, rng_world, rng_data, rng_dynamics):
        sim._rng_world[i], sim._rng_data[i], sim._rng_dynamics[i] = rw, rd, rdyn
    sim.world.reset(env_ids, rng_world, rng_dynamics)
    return rng_data, rng_init, rng_events


def energy_limit_j(scenario: Scenario, world: World) -> np.ndarray:
    """(n_envs, K) what each learner may spend this cycle: min(energy cap, remaining battery), J (inf if neither)."""
    cap_j = scenario.energy.cycle_cap_j
    return np.minimum(np.inf if cap_j is None else cap_j, world.state.battery_j)


class MELSimulator:
    """Batched MEL physics plus the embedded FL trainer.

    Args:
        scenario: a :class:`Scenario` or anything :func:`load_scenario` takes.
        n_envs: number of independent worlds stepped together.
        device: torch device of the trainer ("cpu", "cuda", "auto").
    """

    def __init__(self, scenario: Scenario | str = "default", n_envs: int = 1, device: str | torch.device = "cpu"):
        self.scenario = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
        if n_envs < 1:
            raise ValueError(f"n_envs={n_envs} must be >= 1")
        s = self.scenario
        self.n_envs = n_envs
        self.num_learners = s.num_learners
        self.device = resolve_device(device)
        ln = s.learning
        dataset = load_dataset(ln.dataset, ln.data_dir, ln.test_fraction, ln.split_seed)
        self.spec = MLPSpec.build(dataset.num_features, ln.hidden_layers, dataset.num_classes)
        self.trainer = FLTrainer(
            self.spec, dataset, self.device, ln.learning_rate, ln.local_batch_size, ln.kernel,
            ln.max_test_samples, ln.split_seed,
        )
        self._train_labels = np.asarray(dataset.y_train)
        n_train = self.trainer.num_train_samples
        if s.samples_per_cycle > n_train:
            raise ValueError(
                f"scenario key 'samples_per_cycle' = {s.samples_per_cycle} exceeds the {n_train} training samples "
                f"of data set '{dataset.name}': must be <= {n_train}"
            )
        if s.mode == "fl" and n_train < s.num_learners:
            raise ValueError(f"FL needs at least one sample per learner: {n_train} < num_learners {s.num_learners}")
        self.model_bits = float(self.spec.num_parameters * ln.bits_per_parameter)
        self.sample_bits = float((dataset.num_features + 1) * ln.bits_per_feature)
        self.cost = CostModel(model_bits=self.model_bits, sample_bits=self.sample_bits, sends_data=s.mode == "pl",
                              cycles_per_sample=s.compute.cycles_per_sample, kappa=s.compute.kappa,
                              cycle_deadline_s=s.cycle_deadline_s)
        self.world = World(s, n_envs)
        # Placeholders until reset() gives every env its own streams.
        self._rng_world = [np.random.default_rng(i) for i in range(n_envs)]
        self._rng_data = [np.random.default_rng(i) for i in range(n_envs)]
        self._rng_dynamics = [np.random.default_rng(i) for i in range(n_envs)]
        self._rng_drift = [np.random.default_rng(i) for i in range(n_envs)]
        self.drift = DriftProcess(s.drift, n_envs)
        self._was_reset = np.zeros(n_envs, dtype=bool)
        self.global_weights: Weights = self.trainer.init_global(self._rng_data)
        self.loss = np.zeros(n_envs)
        self.accuracy = np.zeros(n_envs)
        # FL: each learner's local pool (sizes (n_envs, K)); PL: every learner can take all d.
        self.pools = LearnerPools((n_envs, s.num_learners), int(np.ceil(n_train / s.num_learners)) if s.mode == "fl" else 1)
        if s.mode == "pl":
            self.pools.size[:] = s.samples_per_cycle

    # ------------------------------------------------------------------------------------------------ reset
    def reset(self, seeds: Sequence[int | np.random.SeedSequence], env_ids: Sequence[int] | None = None) -> None:
        """Start fresh episodes in ``env_ids`` (all envs by default), one seed each.

        Each seed is split into independent streams for the world (placement, channels, CPUs, batteries),
        the data (partitions and per-cycle samples) and the model initialisation.
        """
        env_ids = list(range(self.n_envs)) if env_ids is None else list(env_ids)
        rng_data, rng_init, rng_drift = start_episodes(self, seeds, env_ids)
        for i, rng in zip(env_ids, rng_drift):
            self._rng_drift[i] = rng
        self.drift.reset(env_ids)
        if self.scenario.mode == "fl":
            self._reset_pools(env_ids, rng_data)
        fresh = self.trainer.init_global(rng_init)
        ids = torch.as_tensor(env_ids, device=self.device)
        for (gw, gb), (fw, fb) in zip(self.global_weights, fresh):
            gw[ids] = fw
            gb[ids] = fb
        loss, acc = self.trainer.evaluate([(w[ids], b[ids]) for w, b in self.global_weights])
        self.loss[env_ids], self.accuracy[env_ids] = loss, acc
        self._was_reset[env_ids] = True

    def _reset_pools(self, env_ids: Sequence[int], rngs: Sequence[np.random.Generator]) -> None:
        ln = self.scenario.learning
        for i, rng in zip(env_ids, rngs):
            self.pools.store(i, make_partition(rng, self._train_labels, self.num_learners, ln.partition,
                                               ln.dirichlet_alpha, ln.shards_per_learner))

    @property
    def pool_index(self) -> np.ndarray:
        """FL: (n_envs, K, P) each learner's local samples (indices into the training split), padded with 0."""
        return self.pools.index

    @property
    def pool_size(self) -> np.ndarray:
        """(n_envs, K) each learner's pool size (FL), or d (PL)."""
        return self.pools.size

    # ------------------------------------------------------------------------------------------------ physics
    @property
    def task_caps(self) -> np.ndarray:
        """(n_envs, K) the largest d_k each learner can take: d in PL, its local pool in FL."""
        return self.pool_size

    def coefficients(self, tx_power_w: np.ndarray | None = None, bandwidth_hz: np.ndarray | None = None,
                     cpu_hz: np.ndarray | None = None) -> CycleCoefficients:
        """Planned-time coefficients of the coming cycle for these resources (None: the scenario's power and
        bandwidth, the CPU each learner last reported), on the channel the orchestrator plans with."""
        cpu = self.world.cpu_available_hz() if cpu_hz is None else cpu_hz
        return self.cost.coefficients(*self.world.rates_bps(tx_power_w, bandwidth_hz), cpu)

    def energy_coefficients(self, tx_power_w: np.ndarray | None = None, bandwidth_hz: np.ndarray | None = None,
                            cpu_hz: np.ndarray | None = None) -> EnergyCoefficients:
        """Planned-energy coefficients of the coming cycle for these resources (defaults as above)."""
        cpu = self.world.cpu_available_hz() if cpu_hz is None else cpu_hz
        power = self.world.tx_power_w if tx_power_w is None else tx_power_w
        return self.cost.energy_coefficients(self.world.rates_bps(tx_power_w, bandwidth_hz)[1], power, cpu)

    def energy_budget(self, tx_power_w: np.ndarray | None = None, bandwidth_hz: np.ndarray | None = None,
                      cpu_hz: np.ndarray | None = None) -> EnergyBudget | None:
        """The energy side of the coming cycle's plan (limits and planned-energy coefficients for these
        resources), or None when nobody has an energy limit."""
        limit = self.energy_limit_j()
        if not np.any(np.isfinite(limit)):
            return None
        return EnergyBudget(limit, self.energy_coefficients(tx_power_w, bandwidth_hz, cpu_hz))

    def energy_limit_j(self) -> np.ndarray:
        """(n_envs, K) what each learner may spend this cycle: min(energy cap, remaining battery), J (inf if neither)."""
        return energy_limit_j(self.scenario, self.world)

    def _validate(self, decision: Decision) -> tuple[np.ndarray, np.ndarray]:
        if not self._was_reset.all():
            raise RuntimeError(f"call reset() for envs {np.flatnonzero(~self._was_reset).tolist()} before step()")
        shape = (self.n_envs, self.num_learners)
        checked = []
        for name in ("task_sizes", "local_iterations"):
            value = np.asarray(getattr(decision, name))
            if value.shape != shape:
                raise ValueError(f"Decision.{name} has shape {value.shape}, expected (n_envs, K) = {shape}")
            if not np.all(np.isfinite(value)) or np.any(value < 0) or np.any(value != np.round(value)):
                raise ValueError(f"Decision.{name} must hold integers >= 0, got {value}")
            checked.append(value.astype(np.int64))
        task_sizes, iterations = checked
        for name in ("tx_power_w", "bandwidth_hz", "cpu_hz", "aggregation_weights"):
            value = getattr(decision, name)
            if value is not None:
                value = np.asarray(value, dtype=np.float64)
                if value.shape != shape or not np.all(np.isfinite(value)) or np.any(value < 0):
                    raise ValueError(f"Decision.{name} must be finite, >= 0 and of shape {shape}")
        for name, want in (("learner_position_m", shape + (2,)), ("orchestrator_m", (self.n_envs, 3))):
            value = getattr(decision, name)
            if value is not None:
                value = np.asarray(value, dtype=np.float64)
                if value.shape != want or not np.all(np.isfinite(value)):
                    raise ValueError(f"Decision.{name} must be finite and of shape {want}, got {value.shape}")
        if decision.orchestrator_m is not None and np.any(np.asarray(decision.orchestrator_m)[:, 2] < 0):
            raise ValueError("Decision.orchestrator_m: the antenna height (last column) must be >= 0 m")
        over = task_sizes > self.task_caps
        if np.any(over):
            i, k = np.argwhere(over)[0]
            raise ValueError(
                f"Decision.task_sizes[{i}, {k}] = {task_sizes[i, k]} exceeds the learner's cap "
                f"{self.task_caps[i, k]} ({'samples per cycle d' if self.scenario.mode == 'pl' else 'its local data'})"
            )
        primary_sizes = task_sizes if decision.backup_of is None else np.where(np.asarray(decision.backup_of) >= 0, 0,
                                                                              task_sizes)
        if self.scenario.mode == "pl" and np.any(primary_sizes.sum(axis=1) > self.scenario.samples_per_cycle):
            raise ValueError(
                f"Decision.task_sizes (backups aside) sum to {primary_sizes.sum(axis=1)} per env, more than "
                f"samples_per_cycle = "
                f"{self.scenario.samples_per_cycle}"
            )
        dead = (task_sizes > 0) & ~self.world.available
        if np.any(dead):
            raise ValueError("Decision.task_sizes gives samples to learners that cannot take part (empty battery, out "
                             f"of coverage or reported frozen): {np.argwhere(dead).tolist()}")
        if decision.backup_of is not None:
            self._validate_backups(np.asarray(decision.backup_of), task_sizes, iterations)
        return task_sizes, iterations

    def _validate_backups(self, backup_of: np.ndarray, task_sizes: np.ndarray, iterations: np.ndarray) -> None:
        shape = (self.n_envs, self.num_learners)
        if backup_of.shape != shape or not np.issubdtype(backup_of.dtype, np.integer):
            raise ValueError(f"Decision.backup_of must be integers of shape {shape}, got {backup_of.dtype} "
                             f"{backup_of.shape}")
        if np.any((backup_of < -1) | (backup_of >= self.num_learners)):
            raise ValueError(f"Decision.backup_of must lie in [-1, K - 1] = [-1, {self.num_learners - 1}]")
        is_backup = backup_of >= 0
        if not np.any(is_backup):
            return
        if self.scenario.mode != "pl":
            raise ValueError("Decision.backup_of: backups copy their primary's samples, which only PL sends (mode: pl)")
        i, j = np.nonzero(is_backup)
        k = backup_of[i, j]
        problems = [
            (k == j, "a learner cannot back itself up"),
            (is_backup[i, k], "a primary cannot itself be a backup"),
            (task_sizes[i, k] == 0, "the primary has no task"),
            (task_sizes[i, j] != task_sizes[i, k], "a backup must run its primary's task size"),
            (iterations[i, j] != iterations[i, k], "a backup must run its primary's local iterations"),
        ]
        for bad, why in problems:
            if np.any(bad):
                n = int(np.flatnonzero(bad)[0])
                raise ValueError(f"Decision.backup_of[{i[n]}, {j[n]}] = {k[n]}: {why}")
        for env in range(self.n_envs):
            primaries = backup_of[env][is_backup[env]]
            if primaries.size != np.unique(primaries).size:
                raise ValueError(f"Decision.backup_of: env {env} gives a primary more than one backup")

    # ------------------------------------------------------------------------------------------------ step
    def step(self, decision: Decision) -> Outcome:
        """Run one global cycle in every env (see the module docstring)."""
        task_sizes, iterations = self._validate(decision)
        iterations = np.where(task_sizes > 0, iterations, 0)
        ph = run_physics(self.world, self.cost, decision, task_sizes, iterations, self.scenario.energy.cycle_cap_j)
        participants, delivered = ph.participants, ph.delivered
        backup_of = np.full(task_sizes.shape, -1) if decision.backup_of is None else np.asarray(decision.backup_of)
        is_backup = backup_of >= 0
        primary_delivered = np.take_along_axis(delivered, np.maximum(backup_of, 0), axis=1)
        used = np.where(is_backup, delivered & ~primary_delivered, delivered)  # a backup stands in for a lost primary

        learns = used & (iterations > 0)  # with tau = 0 a learner returns the global model unchanged
        if np.any(is_backup):  # a backup trains on its primary's samples
            sample_index = self._draw_samples(np.where(is_backup, 0, task_sizes), participants)
            rows = np.take_along_axis(sample_index, np.maximum(backup_of, 0)[..., None], axis=1)
            sample_index = np.where((is_backup & learns)[..., None], rows, np.where(learns[..., None], sample_index, 0))
        else:
            sample_index = self._draw_samples(task_sizes, learns)
        loss_before, acc_before = self.loss.copy(), self.accuracy.copy()
        weights = task_sizes if decision.aggregation_weights is None else decision.aggregation_weights
        self.global_weights, diverged = self.trainer.round(
            self.global_weights, self.num_learners, sample_index, np.where(learns, task_sizes, 0),
            np.where(learns, iterations, 0), np.where(used, weights, 0).astype(np.float64),
        )
        finished = used & ~diverged
        changed = np.flatnonzero((finished & learns).any(axis=1))  # other envs kept their model: same loss
        if changed.size:
            ids = torch.from_numpy(changed).to(self.device)
            self.loss[changed], self.accuracy[changed] = self.trainer.evaluate(
                [(w.index_select(0, ids), b.index_select(0, ids)) for w, b in self.global_weights])
        cycle = self.world.state.cycle.copy()
        loss_after, accuracy_after = self.loss.copy(), self.accuracy.copy()
        self.world.advance(self._rng_world, self._rng_dynamics)
        self._drift()
        return ph.outcome(finished, diverged, is_backup & used, task_sizes, iterations, loss_before, acc_before,
                          loss_after, accuracy_after, cycle)

    def _drift(self) -> None:
        """Between two cycles: the concept drifts in the envs whose drift generator says so (the scenario's
        ``drift``); their global models are changed as the drift model says and evaluated again, so that the coming
        cycle starts from (and its gain is measured against) the loss on the new concept."""
        envs = np.flatnonzero(self.drift.draw(self._rng_drift, self.world.state.cycle))
        if envs.size == 0:
            return
        self.drift.apply(self.global_weights, envs, self._rng_drift, self.spec)
        ids = torch.from_numpy(envs).to(self.device)
        self.loss[envs], self.accuracy[envs] = self.trainer.evaluate(
            [(w.index_select(0, ids), b.index_select(0, ids)) for w, b in self.global_weights])

    def _draw_samples(self, task_sizes: np.ndarray, trains: np.ndarray) -> np.ndarray:
        """(n_envs, K, width) indices into the training split for this cycle's learners that train (rows of the
        others are 0). The draws do not depend on the decision: same seed, same data for every policy."""
        if self.scenario.mode == "pl":
            n_train = self.trainer.num_train_samples
            order = np.stack([rng.permutation(n_train)[: self.scenario.samples_per_cycle] for rng in self._rng_data])
            return slice_consecutive(order, task_sizes, keep=trains)
        return self.pools.draw(self._rng_data, task_sizes, trains)
