"""The single-job simulator: one learning job's FL training (the embedded trainer) over n_envs worlds of K learners;
a cycle's physics is :func:`mel_gym.simulation.cycle.run_physics` (the module docstring there describes a cycle)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from mel_gym.config import Scenario, load_scenario
from mel_gym.learning.datasets import load_dataset
from mel_gym.learning.drift import DriftProcess
from mel_gym.learning.model import MLPSpec, Weights
from mel_gym.learning.partition import LearnerPools, make_partition, slice_consecutive
from mel_gym.learning.trainer import FLTrainer
from mel_gym.simulation.base import SimulatorBase
from mel_gym.schema import ConfigError
from mel_gym.simulation.cycle import Decision, Outcome, RouteRules, run_chain_physics, run_physics, run_route_physics
from mel_gym.world.chains import StageModel
from mel_gym.optim.redistribution import emd, phase_plan, send_times_s
from mel_gym.world.routes import route_roots
from mel_gym.world.costs import CostModel, CycleCoefficients, EnergyBudget, EnergyCoefficients


class MELSimulator(SimulatorBase):
    """Batched MEL physics plus the embedded FL trainer.

    Args:
        scenario: a :class:`Scenario` or anything :func:`load_scenario` takes.
        n_envs: number of independent worlds stepped together.
        device: torch device of the trainer ("cpu", "cuda", "auto").
    """

    def __init__(self, scenario: Scenario | str = "default", n_envs: int = 1, device: str | torch.device = "cpu"):
        super().__init__(scenario if isinstance(scenario, Scenario) else load_scenario(scenario), n_envs, device)
        s = self.scenario
        ln = s.learning
        dataset = load_dataset(ln.dataset, ln.data_dir, ln.test_fraction, ln.split_seed, ln.validation_fraction)
        self.spec = MLPSpec.build(dataset.num_features, ln.hidden_layers, dataset.num_classes)
        self.trainer = FLTrainer(
            self.spec, dataset, self.device, ln.learning_rate, ln.local_batch_size, ln.kernel,
            ln.max_test_samples, ln.split_seed,
        )
        self._train_labels = np.asarray(dataset.y_train)
        n_train = self.trainer.num_train_samples
        if s.samples_per_cycle > n_train:
            raise ConfigError(
                f"scenario key 'samples_per_cycle' = {s.samples_per_cycle} exceeds the {n_train} training samples "
                f"of data set '{dataset.name}': must be >= 1 and <= {n_train}"
            )
        if s.mode == "fl" and n_train < s.num_learners:
            raise ConfigError(f"FL needs at least one sample per learner: {n_train} < num_learners {s.num_learners}")
        self.model_bits = float(self.spec.num_parameters * ln.bits_per_parameter)
        self.sample_bits = float((dataset.num_features + 1) * ln.bits_per_feature)
        self.cost = CostModel(model_bits=self.model_bits, sample_bits=self.sample_bits, sends_data=s.mode == "pl",
                              cycles_per_sample=s.compute.cycles_per_sample, kappa=s.compute.kappa,
                              cycle_deadline_s=s.cycle_deadline_s)
        self._rng_drift = [np.random.default_rng(i) for i in range(n_envs)]
        self.drift = DriftProcess(s.drift, n_envs)
        self._stage_model: StageModel | None = None
        self.global_weights: Weights = self.trainer.init_global(self._rng_data)
        self.init_scores((n_envs,))
        # FL: each learner's local pool (sizes (n_envs, K)); PL: every learner can take all d. With redistribution a
        # pool may grow to the whole training split: its per-cycle draw keys are that many from the start, so the
        # data draws never depend on what moved.
        width = int(np.ceil(n_train / s.num_learners)) if s.mode == "fl" else 1
        self.pools = LearnerPools((n_envs, s.num_learners), n_train if s.redistribution.enabled else width)
        if s.mode == "pl":
            self.pools.size[:] = s.samples_per_cycle

    # ------------------------------------------------------------------------------------------------ reset
    def reset(self, seeds: Sequence[int | np.random.SeedSequence], env_ids: Sequence[int] | None = None) -> None:
        """Start fresh episodes in ``env_ids`` (all envs by default), one seed each.

        Each seed is split into independent streams for the world (placement, channels, CPUs, batteries),
        the data (partitions and per-cycle samples) and the model initialisation.
        """
        env_ids = list(range(self.n_envs)) if env_ids is None else list(env_ids)
        rng_data, rng_init, rng_drift = self.start_episodes(seeds, env_ids)
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
        self.store_scores(env_ids, self.trainer.evaluate([(w[ids], b[ids]) for w, b in self.global_weights]))
        self.finish_reset(env_ids)

    def _reset_pools(self, env_ids: Sequence[int], rngs: Sequence[np.random.Generator]) -> None:
        ln = self.scenario.learning
        for i, rng in zip(env_ids, rngs):
            self.pools.store(i, make_partition(rng, self._train_labels, self.num_learners, ln.partition,
                                               ln.dirichlet_alpha, ln.shards_per_learner))

    def label_counts(self) -> np.ndarray:
        """FL: (n_envs, K, C) how many samples of each class every learner holds."""
        C = self.trainer.num_classes
        labels = self._train_labels[self.pools.index]
        held = np.arange(self.pools.index.shape[-1]) < self.pools.size[..., None]
        return np.stack([(held & (labels == c)).sum(axis=-1) for c in range(C)], axis=-1)

    def label_share(self) -> np.ndarray:
        """FL: (n_envs, K, C) each learner's share of each class, n_k(c) / N_k (0 for an empty pool)."""
        counts = self.label_counts().astype(np.float64)
        size = counts.sum(axis=-1, keepdims=True)
        return np.divide(counts, size, out=np.zeros_like(counts), where=size > 0)

    def redistribute(self, allowed: np.ndarray, pooled: np.ndarray, due: np.ndarray) -> dict[str, np.ndarray]:
        """A redistribution phase (scenario section ``redistribution``, docs/redistribution.md) in the envs where
        ``due`` (n_envs,): learner k may send ``allowed`` (n_envs, K) samples, into the shared pool where ``pooled``,
        else to the orchestrator's transport plan (:func:`mel_gym.optim.redistribution.phase_plan`). The samples
        move between the pools (the first of each class in a pool's order; they are trained where they moved to),
        each sender spends P x its sending time and each receiver ``d2d.receive_j_per_bit`` per bit received, drawn
        from the batteries. Returns per learner (n_envs, K): ``redistribution_sent``, ``redistribution_received``
        (samples), ``redistribution_s`` (sending time), ``redistribution_energy_j``, ``label_emd`` (after)."""
        s, world = self.scenario, self.world
        links = world.d2d_links()
        power = np.broadcast_to(world.tx_power_w, allowed.shape)
        rates = links.rates_bps(power)
        shape = allowed.shape
        out = {name: np.zeros(shape) for name in ("redistribution_sent", "redistribution_received", "redistribution_s",
                                                   "redistribution_energy_j")}
        counts = self.label_counts()
        for i in np.flatnonzero(due):
            steps = phase_plan(counts[i], links.neighbours[i], rates[i], self.sample_bits, s.redistribution.budget_s,
                               allowed[i], pooled[i])
            for plan in steps:  # the pool, then the transport planned on the counts after it
                self._move(i, plan, links.neighbours[i])
                sent = plan.sum(axis=(1, 2))
                received = np.zeros(shape[1])
                np.add.at(received, links.neighbours[i][links.neighbours[i] >= 0],
                          plan.sum(axis=2)[links.neighbours[i] >= 0])
                out["redistribution_sent"][i] += sent
                out["redistribution_received"][i] += received
                seconds = send_times_s(plan, rates[i], self.sample_bits)
                out["redistribution_s"][i] += seconds
                out["redistribution_energy_j"][i] += (power[i] * seconds
                                                      + s.d2d.receive_j_per_bit * received * self.sample_bits)
        world.drain(out["redistribution_energy_j"])
        out["label_emd"] = np.stack([emd(c) for c in self.label_counts()])
        return out

    def _move(self, i: int, plan: np.ndarray, neighbours: np.ndarray) -> None:
        """Move the samples of ``plan`` (K, M, C) int between env ``i``'s pools: each sender gives the first samples
        of each class in its pool's order, each receiver appends them."""
        pools = [list(self.pools.index[i, k, : self.pools.size[i, k]]) for k in range(self.num_learners)]
        labels = self._train_labels
        outgoing: list[list[int]] = [[] for _ in pools]
        for k, m, c in zip(*np.nonzero(plan)):
            mine = [x for x in pools[k] if labels[x] == c][: plan[k, m, c]]
            taken = set(mine)
            pools[k] = [x for x in pools[k] if x not in taken]
            outgoing[neighbours[k, m]] += mine
        self.pools.store(i, [np.array(p + q, dtype=np.int64) for p, q in zip(pools, outgoing)])

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

    def _validate(self, decision: Decision) -> tuple[np.ndarray, np.ndarray]:
        self.check_reset()
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
        able = self.world.available if decision.next_hop is None else self.world.can_work  # relays reach the others
        dead = (task_sizes > 0) & ~able
        if np.any(dead):
            raise ValueError("Decision.task_sizes gives samples to learners that cannot take part (empty battery, out "
                             f"of coverage or reported frozen): {np.argwhere(dead).tolist()}")
        if decision.backup_of is not None:
            self._validate_backups(np.asarray(decision.backup_of), task_sizes, iterations)
        if decision.chain_of is not None:
            self._validate_chains(decision, task_sizes)
        if decision.next_hop is not None:
            self._validate_routes(np.asarray(decision.next_hop), task_sizes)
        return task_sizes, iterations

    @property
    def stage_model(self) -> StageModel:
        """The job's model cut into stages (scenario section ``chains``; :mod:`mel_gym.world.chains`).

        Raises:
            ConfigError: the cuts do not fit the model (naming ``chains.cuts``).
        """
        if self._stage_model is None:
            ch, ln = self.scenario.chains, self.scenario.learning
            try:
                self._stage_model = StageModel(self.spec.layer_sizes, tuple(ch.cuts), self.scenario.compute.cycles_per_sample,
                                               ln.bits_per_parameter, ch.microbatch)
            except ValueError as error:
                raise ConfigError(str(error)) from None
        return self._stage_model

    def _validate_chains(self, decision: Decision, task_sizes: np.ndarray) -> None:
        """A chain decision: members that can take part, each chain's first stages distinct and starting at 0,
        and a task only at a chain's head (``ValueError`` naming the env and chain)."""
        shape = (self.n_envs, self.num_learners)
        chain_of, first = np.asarray(decision.chain_of), decision.first_stage
        if first is None:
            raise ValueError("Decision.chain_of needs Decision.first_stage (the first stage each member hosts)")
        first = np.asarray(first)
        S = self.stage_model.num_stages
        for name, value in (("chain_of", chain_of), ("first_stage", first)):
            if value.shape != shape or not np.issubdtype(value.dtype, np.integer):
                raise ValueError(f"Decision.{name} must be integers of shape {shape}, got {value.dtype} {value.shape}")
        if np.any((chain_of < -1) | (chain_of >= self.scenario.chains.max_chains)):
            raise ValueError(f"Decision.chain_of must lie in [-1, chains.max_chains - 1 = "
                             f"{self.scenario.chains.max_chains - 1}] (-1: not in a chain)")
        member = chain_of >= 0
        if np.any(member & ((first < 0) | (first >= S))):
            raise ValueError(f"Decision.first_stage of a chain member must lie in [0, {S - 1}]")
        dead = member & ~self.world.available
        if np.any(dead):
            raise ValueError(f"Decision.chain_of puts learners that cannot take part in chains: {np.argwhere(dead).tolist()}")
        for i in range(self.n_envs):
            for c in np.unique(chain_of[i][member[i]]):
                stages = first[i, chain_of[i] == c]
                if stages.size != np.unique(stages).size or 0 not in stages:
                    raise ValueError(f"Decision: chain {c} of env {i} has first stages {sorted(stages.tolist())}; they "
                                     "must be distinct and include 0")
        heads = member & (first == 0)
        if np.any((task_sizes > 0) & ~heads):
            raise ValueError("Decision.task_sizes: in a cycle of chains only a chain's head (first stage 0) holds a task")

    def _validate_routes(self, next_hop: np.ndarray, task_sizes: np.ndarray) -> None:
        """A route decision (FL): next hops in [-2, K - 1], never the learner itself; the orchestrator only from within
        its range, another learner only over a D2D link and only if that learner is on a route; a task only on a
        route; learners on a route can work; no loops (``ValueError`` naming the env and learner)."""
        shape = (self.n_envs, self.num_learners)
        K = self.num_learners
        if next_hop.shape != shape or not np.issubdtype(next_hop.dtype, np.integer):
            raise ValueError(f"Decision.next_hop must be integers of shape {shape}, got {next_hop.dtype} {next_hop.shape}")
        if self.scenario.mode != "fl":
            raise ValueError("Decision.next_hop: routes carry updates only in FL (scenario key 'mode' = 'fl'): PL "
                             "would relay every learner's samples too")
        if np.any((next_hop < -2) | (next_hop >= K)):
            raise ValueError(f"Decision.next_hop must lie in [-2, K - 1 = {K - 1}] (-1: the orchestrator, -2: none)")
        world = self.world
        links = world.d2d_links()
        on = next_hop >= -1
        for i in range(self.n_envs):
            problems = [
                (next_hop[i] == np.arange(K), "a learner cannot be its own next hop"),
                ((task_sizes[i] > 0) & ~on[i], "a learner with a task must be on a route"),
                (on[i] & ~world.can_work[i], "the learner cannot work (empty battery or reported frozen)"),
                ((next_hop[i] == -1) & ~world.in_coverage[i], "out of the orchestrator's range"),
            ]
            to_learner = np.flatnonzero(next_hop[i] >= 0)
            bad_link = np.zeros(K, dtype=bool)
            bad_link[to_learner] = ~(links.neighbours[i, to_learner] == next_hop[i, to_learner, None]).any(axis=1)
            relay_off = np.zeros(K, dtype=bool)
            relay_off[to_learner] = ~on[i, next_hop[i, to_learner]]
            problems += [(bad_link, "the next hop is not a D2D neighbour"), (relay_off, "the next hop is on no route")]
            top = route_roots(np.where(on[i], next_hop[i], -1))[0]
            problems.append((on[i] & (top < 0), "its route loops"))
            for bad, why in problems:
                if np.any(bad):
                    k = int(np.flatnonzero(bad)[0])
                    raise ValueError(f"Decision.next_hop[{i}, {k}] = {next_hop[i, k]}: {why}")

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
        cap = self.scenario.energy.cycle_cap_j
        if decision.chain_of is not None:
            ph = run_chain_physics(self.world, self.cost, self.stage_model, decision, task_sizes, iterations, cap,
                                   self.scenario.max_local_iterations, self.scenario.chains.max_chains)
        elif decision.next_hop is not None:
            m = self.scenario.multihop
            ph = run_route_physics(self.world, self.cost, decision, task_sizes, iterations, cap,
                                   RouteRules(m.aggregation == "in_route", m.aggregation_s,
                                              self.scenario.d2d.receive_j_per_bit))
        else:
            ph = run_physics(self.world, self.cost, decision, task_sizes, iterations, cap)
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
        before = self.scores()
        weights = task_sizes if decision.aggregation_weights is None else decision.aggregation_weights
        self.global_weights, diverged = self.trainer.round(
            self.global_weights, self.num_learners, sample_index, np.where(learns, task_sizes, 0),
            np.where(learns, iterations, 0), np.where(used, weights, 0).astype(np.float64),
        )
        finished = used & ~diverged
        changed = np.flatnonzero((finished & learns).any(axis=1))  # other envs kept their model: same loss
        if changed.size:
            ids = torch.from_numpy(changed).to(self.device)
            self.store_scores(changed, self.trainer.evaluate(
                [(w.index_select(0, ids), b.index_select(0, ids)) for w, b in self.global_weights]))
        cycle = self.world.state.cycle.copy()
        after = self.scores()
        self.world.advance(self._rng_world, self._rng_dynamics)
        self._drift()
        return ph.outcome(finished, diverged, is_backup & used, task_sizes, iterations, before, after, cycle)

    def _drift(self) -> None:
        """Between two cycles: the concept drifts in the envs whose drift generator says so (the scenario's
        ``drift``); their global models are changed as the drift model says and evaluated again, so that the coming
        cycle starts from (and its gain is measured against) the loss on the new concept."""
        envs = np.flatnonzero(self.drift.draw(self._rng_drift, self.world.state.cycle))
        if envs.size == 0:
            return
        self.drift.apply(self.global_weights, envs, self._rng_drift, self.spec)
        ids = torch.from_numpy(envs).to(self.device)
        self.store_scores(envs, self.trainer.evaluate(
            [(w.index_select(0, ids), b.index_select(0, ids)) for w, b in self.global_weights]))

    def _draw_samples(self, task_sizes: np.ndarray, trains: np.ndarray) -> np.ndarray:
        """(n_envs, K, width) indices into the training split for this cycle's learners that train (rows of the
        others are 0). The draws do not depend on the decision: same seed, same data for every policy."""
        if self.scenario.mode == "pl":
            n_train = self.trainer.num_train_samples
            order = np.stack([rng.permutation(n_train)[: self.scenario.samples_per_cycle] for rng in self._rng_data])
            return slice_consecutive(order, task_sizes, keep=trains)
        return self.pools.draw(self._rng_data, task_sizes, trains)
