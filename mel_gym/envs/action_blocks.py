"""Declared action blocks: what each part of an env's raw action controls, where it lies, and how it maps both ways.

An env's raw action is a sequence of blocks (:class:`ActionLayout`). A block is either *per learner* (``width``
values for each of the K learners, laid out as ``width`` runs of K values: learner k's values are at
``start + c K + k``, c < width) or *global* (``width`` values for the whole orchestrator). Every block knows

- its slice of the action (:meth:`ActionLayout.slice_of`, :meth:`ActionLayout.split`);
- how its values become its part of a :class:`~mel_gym.simulation.Decision` (:meth:`ActionBlock.decode`: task
  sizes, powers in W, bandwidths in Hz, CPU frequencies in Hz, participation flags, backup priorities, a velocity in
  m/s, moves in m), given a :class:`DecodeContext` (who can take part, each learner's CPU, the samples the plan
  hands out);
- how a plan is written back into its values (:meth:`ActionBlock.encode`, from a :class:`PlanParts`), so that a
  baseline's plan becomes an action by one loop over the blocks (:meth:`ActionLayout.encode`).

Consumers ask the layout, not the env: which baselines fit (the blocks they write), which values move something
(residual agents that correct only the movement), which values belong to learner k (the multi-agent view), how
many global values follow the per-learner blocks (:class:`~mel_gym.agents.networks.PerLearnerPolicy`).

The amount and the effort are global blocks at the end of the action; the core reads them off first
(:meth:`mel_gym.envs.core.EnvCore.split_amount`). Discrete blocks (``selection``, ``job``) hold integers: the
selection 0/1, the job choice 0 (idle) .. J.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Sequence

import numpy as np

from mel_gym.envs.action_maps import (action_from_cpu, action_from_power, action_from_shares, action_from_vector,
                                      cpu_from_action, power_from_action, shares_from_action, task_sizes_from_action,
                                      vector_from_action)

#: ReliableTaskAllocation: a learner takes part when its participation value exceeds this (a = 0, the untrained
#: policy's mean: everyone).
PARTICIPATION_THRESHOLD = -0.5
#: ReliableTaskAllocation: a participant's task asks for a backup when its backup value exceeds this (a = 0: none).
BACKUP_THRESHOLD = 0.5


@dataclass
class PlanParts:
    """A plan in physical units, what a baseline hands to :meth:`ActionLayout.encode`; None = the block's default.

    Attributes:
        task_shares: (K,) shares of the planned samples (>= 0; 0: no task).
        power_w: (K,) uplink powers, W (default: full power).
        bandwidth_shares: (K,) shares of the total bandwidth (default: equal).
        cpu_hz: (K,) CPU frequencies, Hz (default: each learner's top frequency).
        backup_priority: (K,) > 0 asks for a backup of the learner's task, larger first (default: none).
        velocity_mps: (2,) the drone's flight to the next cycle, m/s (default: hover).
        moves_m: (K, 2) the controllable learners' moves to the next cycle, m (default: stay).
        send_fraction: (K,) the fraction of its cap each learner may send in a redistribution phase (default: 0).
        send_pooled: (K,) bool, a learner's samples go into the shared pool (else the transport plan; default).
    """

    task_shares: np.ndarray | None = None
    power_w: np.ndarray | None = None
    bandwidth_shares: np.ndarray | None = None
    cpu_hz: np.ndarray | None = None
    backup_priority: np.ndarray | None = None
    velocity_mps: np.ndarray | None = None
    moves_m: np.ndarray | None = None
    send_fraction: np.ndarray | None = None
    send_pooled: np.ndarray | None = None


@dataclass(frozen=True)
class DecodeContext:
    """What turning action values into a decision needs besides the values; arrays (n_envs, K) unless noted.

    Attributes:
        available: learners that can take part this cycle.
        cpu_hz: each learner's top CPU frequency this cycle (as reported), Hz.
        samples: (n_envs,) the samples each env's plan hands out.
        task_caps: the largest task each learner can take (d in PL, its local data in FL), samples.
    """

    available: np.ndarray
    cpu_hz: np.ndarray
    samples: np.ndarray
    task_caps: np.ndarray


@dataclass(frozen=True)
class ActionBlock:
    """One block of an env's raw action (see the module docstring); ``problem`` is the env's
    :class:`~mel_gym.envs.problem.AllocationProblem` (its constants: powers, bandwidth, speeds, the share map)."""

    name: ClassVar[str] = ""
    per_learner: ClassVar[bool] = True
    width: ClassVar[int] = 1
    #: the block moves something between cycles (the drone, the learners)
    moves_something: ClassVar[bool] = False
    doc: ClassVar[str] = ""

    def size(self, num_learners: int) -> int:
        return self.width * num_learners if self.per_learner else self.width

    def decode(self, values: np.ndarray, problem: Any, ctx: DecodeContext | None) -> np.ndarray:
        """The block's part of a decision from its values (n_envs, size); ``ctx`` is needed by the shares, the
        bandwidth and the CPU only (None elsewhere)."""
        raise NotImplementedError(f"action block {self.name!r} is read by its core")  # pragma: no cover

    def encode(self, plan: PlanParts, problem: Any, decoded: Any) -> np.ndarray:
        """The block's values (size,) that carry out ``plan`` (``decoded``: the observation the plan was made on)."""
        raise NotImplementedError(f"action block {self.name!r} is written by its baselines")  # pragma: no cover


@dataclass(frozen=True)
class Shares(ActionBlock):
    """Task shares: a_k -> weight exp(beta a_k), 0 at a_k = -1 or for learners that cannot take part; integer task
    sizes summing to the planned samples (largest remainders, FL caps water-filled)."""

    name: ClassVar[str] = "shares"
    doc: ClassVar[str] = "task shares, a -> exp(beta a)"

    def decode(self, values: np.ndarray, problem: Any, ctx: DecodeContext) -> np.ndarray:
        return task_sizes_from_action(values, ctx.available, problem.action_beta, ctx.samples, ctx.task_caps)

    def encode(self, plan: PlanParts, problem: Any, decoded: Any) -> np.ndarray:
        if plan.task_shares is None:
            raise ValueError("a plan for an action with task shares needs task_shares")
        return action_from_shares(plan.task_shares, problem.action_beta)


@dataclass(frozen=True)
class Power(ActionBlock):
    """Uplink powers: a in [-1, 1] -> P in [P_max - power_range_db, P_max] (dB-linear), W."""

    name: ClassVar[str] = "power"
    doc: ClassVar[str] = "uplink power, dB-linear in [P_max - range, P_max]"

    def decode(self, values: np.ndarray, problem: Any, ctx: DecodeContext) -> np.ndarray:
        return power_from_action(values, problem.tx_power_w, problem.power_range_db)

    def encode(self, plan: PlanParts, problem: Any, decoded: Any) -> np.ndarray:
        power = np.full(problem.num_learners, problem.tx_power_w) if plan.power_w is None else plan.power_w
        return action_from_power(power, problem.tx_power_w, problem.power_range_db)


@dataclass(frozen=True)
class Bandwidth(ActionBlock):
    """Bandwidth shares of the total K W (the share map of the tasks), Hz."""

    name: ClassVar[str] = "bandwidth"
    doc: ClassVar[str] = "bandwidth shares of K W"

    def decode(self, values: np.ndarray, problem: Any, ctx: DecodeContext) -> np.ndarray:
        return shares_from_action(values, ctx.available, problem.action_beta) * problem.total_bandwidth_hz

    def encode(self, plan: PlanParts, problem: Any, decoded: Any) -> np.ndarray:
        if plan.bandwidth_shares is None:
            return np.zeros(problem.num_learners, np.float32)  # equal shares
        return action_from_shares(plan.bandwidth_shares, problem.action_beta)


@dataclass(frozen=True)
class Cpu(ActionBlock):
    """CPU frequencies: a in [-1, 1] -> f in [min_cpu_hz, the learner's top frequency], Hz."""

    name: ClassVar[str] = "cpu"
    doc: ClassVar[str] = "CPU frequency in [f_min, f_k]"

    def decode(self, values: np.ndarray, problem: Any, ctx: DecodeContext) -> np.ndarray:
        return cpu_from_action(values, problem.min_cpu_hz, ctx.cpu_hz)

    def encode(self, plan: PlanParts, problem: Any, decoded: Any) -> np.ndarray:
        cpu = decoded.cpu_hz if plan.cpu_hz is None else plan.cpu_hz
        return action_from_cpu(cpu, problem.min_cpu_hz, decoded.cpu_hz)


@dataclass(frozen=True)
class Participation(ActionBlock):
    """Who takes part: a learner with a value above :data:`PARTICIPATION_THRESHOLD` (bool)."""

    name: ClassVar[str] = "participation"
    doc: ClassVar[str] = f"takes part when > {PARTICIPATION_THRESHOLD}"

    def decode(self, values: np.ndarray, problem: Any, ctx: DecodeContext) -> np.ndarray:
        return values > PARTICIPATION_THRESHOLD

    def encode(self, plan: PlanParts, problem: Any, decoded: Any) -> np.ndarray:
        return np.where(np.asarray(plan.task_shares) > 0, 1.0, -1.0)


@dataclass(frozen=True)
class Backup(ActionBlock):
    """Backup requests: a value above :data:`BACKUP_THRESHOLD` asks for a backup of the learner's task, larger
    values served first. Decoded: the priorities, -inf where no backup is asked for."""

    name: ClassVar[str] = "backup"
    doc: ClassVar[str] = f"asks for a backup when > {BACKUP_THRESHOLD}, larger first"

    def decode(self, values: np.ndarray, problem: Any, ctx: DecodeContext) -> np.ndarray:
        return np.where(values > BACKUP_THRESHOLD, values, -np.inf)

    def encode(self, plan: PlanParts, problem: Any, decoded: Any) -> np.ndarray:
        priority = (np.zeros(problem.num_learners) if plan.backup_priority is None
                    else np.asarray(plan.backup_priority, float))
        top = max(priority.max(), 1e-300)
        return np.where(priority > 0, 0.55 + 0.45 * priority / top, -1.0)  # > 0.5: requested


@dataclass(frozen=True)
class Velocity(ActionBlock):
    """The drone's velocity to the next cycle: (2,) in the unit disc -> m/s up to its top speed."""

    name: ClassVar[str] = "velocity"
    per_learner: ClassVar[bool] = False
    width: ClassVar[int] = 2
    moves_something: ClassVar[bool] = True
    doc: ClassVar[str] = "the drone's (vx, vy) / top speed"

    def decode(self, values: np.ndarray, problem: Any, ctx: DecodeContext) -> np.ndarray:
        return vector_from_action(values, problem.mobility.drone_max_speed_mps)

    def encode(self, plan: PlanParts, problem: Any, decoded: Any) -> np.ndarray:
        velocity = np.zeros(2) if plan.velocity_mps is None else plan.velocity_mps
        return action_from_vector(velocity, problem.mobility.drone_max_speed_mps)


@dataclass(frozen=True)
class Moves(ActionBlock):
    """The learners' moves to the next cycle: an x run of K values then a y run, each pair in the unit disc -> m
    up to a learner's reach (0 for learners that cannot be moved). Decoded: (n_envs, K, 2) m."""

    name: ClassVar[str] = "moves"
    width: ClassVar[int] = 2
    moves_something: ClassVar[bool] = True
    doc: ClassVar[str] = "each learner's (dx, dy) / reach"

    def decode(self, values: np.ndarray, problem: Any, ctx: DecodeContext) -> np.ndarray:
        K, mobility = problem.num_learners, problem.mobility
        pairs = np.stack([values[:, :K], values[:, K:]], axis=-1)
        return vector_from_action(pairs, mobility.learner_reach_m) * mobility.controllable[None, :, None]

    def encode(self, plan: PlanParts, problem: Any, decoded: Any) -> np.ndarray:
        moves = np.zeros((problem.num_learners, 2)) if plan.moves_m is None else plan.moves_m
        pairs = action_from_vector(moves, problem.mobility.learner_reach_m)
        return np.concatenate([pairs[:, 0], pairs[:, 1]])


@dataclass(frozen=True)
class Send(ActionBlock):
    """How much each learner may send in a redistribution phase (TaskAllocation-v0 with ``redistribution``): a_k ->
    the fraction (a + 1) / 2 of its cap (``redistribution.cap_fraction`` of its samples). Decoded: (n_envs, K)."""

    name: ClassVar[str] = "send"
    doc: ClassVar[str] = "the fraction (a + 1) / 2 of a learner's cap it may send"

    def decode(self, values: np.ndarray, problem: Any, ctx: DecodeContext | None) -> np.ndarray:
        return (np.clip(values, -1.0, 1.0) + 1.0) / 2.0

    def encode(self, plan: PlanParts, problem: Any, decoded: Any) -> np.ndarray:
        fraction = np.zeros(problem.num_learners) if plan.send_fraction is None else plan.send_fraction
        return np.clip(2.0 * np.asarray(fraction, dtype=np.float64) - 1.0, -1.0, 1.0)


@dataclass(frozen=True)
class SendMode(ActionBlock):
    """Where each learner's samples go (with ``send``): a_k < 0 the shared pool (equally to its neighbours), else the
    orchestrator's transport plan. Decoded: (n_envs, K) bool, pooled."""

    name: ClassVar[str] = "send_mode"
    doc: ClassVar[str] = "< 0: the shared pool, >= 0: the transport plan"

    def decode(self, values: np.ndarray, problem: Any, ctx: DecodeContext | None) -> np.ndarray:
        return np.asarray(values) < 0.0

    def encode(self, plan: PlanParts, problem: Any, decoded: Any) -> np.ndarray:
        pooled = np.zeros(problem.num_learners, dtype=bool) if plan.send_pooled is None else plan.send_pooled
        return np.where(np.asarray(pooled, dtype=bool), -1.0, 1.0)


@dataclass(frozen=True)
class Selection(ActionBlock):
    """Who takes part (LearnerSelection-v0): 0 or 1 per learner; the env sizes the tasks."""

    name: ClassVar[str] = "selection"
    doc: ClassVar[str] = "1: the learner takes part"


@dataclass(frozen=True)
class JobChoice(ActionBlock):
    """Which job each learner serves (MultiJob-v0): 0 idle, j + 1 job j."""

    name: ClassVar[str] = "job"
    doc: ClassVar[str] = "0: idle, j + 1: job j"


@dataclass(frozen=True)
class ChainSlot(ActionBlock):
    """Which chain and first stage each learner takes (SplitChain-v0): 0 idle, 1 + c S + s chain c from stage s."""

    name: ClassVar[str] = "chain_slot"
    doc: ClassVar[str] = "0: idle, 1 + c S + s: chain c, first stage s"


@dataclass(frozen=True)
class NextHop(ActionBlock):
    """Where each learner sends its update (MultiHop-v0): 0 idle, 1 the orchestrator, 2 + m its neighbour m."""

    name: ClassVar[str] = "next_hop"
    doc: ClassVar[str] = "0: idle, 1: the orchestrator, 2 + m: neighbour m"


@dataclass(frozen=True)
class RouteShare(ActionBlock):
    """How much each learner on a route trains (MultiHop-v0): 0 relay only, l >= 1 l / (L - 1) of its capacity."""

    name: ClassVar[str] = "route_share"
    doc: ClassVar[str] = "0: relay only, l: l / (L - 1) of its capacity on the tree"


@dataclass(frozen=True)
class _Counted(ActionBlock):
    """A global block of ``count`` values (one per job, one per chain)."""

    per_learner: ClassVar[bool] = False
    count: int = 1

    def size(self, num_learners: int) -> int:
        return self.count


@dataclass(frozen=True)
class ChainSplit(_Counted):
    """Each chain's share of the samples (SplitChain-v0): a level per chain, share (level + 1) / the formed chains'
    sum."""

    name: ClassVar[str] = "chain_split"
    doc: ClassVar[str] = "each chain's share level"


@dataclass(frozen=True)
class Amount(_Counted):
    """How many of the cycle's samples the plan processes: one value (a level where the action is discrete; one
    per job in MultiJob-v0, ``count``)."""

    name: ClassVar[str] = "amount"
    doc: ClassVar[str] = "the fraction of the cycle's samples"

    def encode(self, plan: PlanParts, problem: Any, decoded: Any) -> np.ndarray:
        return np.atleast_1d(problem.amount_action_value())


@dataclass(frozen=True)
class Effort(ActionBlock):
    """The share u in [0, 1] of the planned local iterations that is run (1: the plan as it is)."""

    name: ClassVar[str] = "effort"
    per_learner: ClassVar[bool] = False
    doc: ClassVar[str] = "the share of the planned local iterations run"

    def encode(self, plan: PlanParts, problem: Any, decoded: Any) -> np.ndarray:
        return np.ones(1)


@dataclass(frozen=True)
class ActionLayout:
    """An env's raw action as an ordered sequence of blocks over K learners (see the module docstring)."""

    blocks: tuple[ActionBlock, ...]
    num_learners: int
    _starts: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = [b.name for b in self.blocks]
        if len(set(names)) != len(names):
            raise ValueError(f"an action layout names each block once, got {names}")
        starts, at = {}, 0
        for block in self.blocks:
            starts[block.name] = at
            at += block.size(self.num_learners)
        object.__setattr__(self, "_starts", starts)

    @property
    def size(self) -> int:
        """Values in the action."""
        return sum(b.size(self.num_learners) for b in self.blocks)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(b.name for b in self.blocks)

    def has(self, *names: str) -> bool:
        """Whether the action has every one of the blocks ``names``."""
        return all(name in self._starts for name in names)

    def block(self, name: str) -> ActionBlock:
        for b in self.blocks:
            if b.name == name:
                return b
        raise KeyError(f"the action has no block {name!r}; it has {list(self.names)}")

    def slice_of(self, name: str) -> slice:
        start = self._starts[self.block(name).name]
        return slice(start, start + self.block(name).size(self.num_learners))

    def split(self, actions: np.ndarray) -> dict[str, np.ndarray]:
        """A batch of actions (n_envs, size) as {block name: its values (n_envs, block size)}."""
        return {b.name: actions[:, self.slice_of(b.name)] for b in self.blocks}

    def decode(self, name: str, actions: np.ndarray, problem: Any, ctx: DecodeContext | None) -> np.ndarray:
        """Block ``name``'s part of a decision from a batch of whole actions (n_envs, size)."""
        return self.block(name).decode(actions[:, self.slice_of(name)], problem, ctx)

    def encode(self, plan: PlanParts, problem: Any, decoded: Any) -> np.ndarray:
        """The action (size,) float32 that carries out ``plan``: every block's values, in order."""
        return np.concatenate([np.asarray(b.encode(plan, problem, decoded), dtype=np.float64).ravel()
                               for b in self.blocks]).astype(np.float32)

    def indices(self, names: Sequence[str]) -> np.ndarray:
        """The action indices of the blocks ``names`` that the action has, in action order."""
        parts = [np.arange(self.slice_of(b.name).start, self.slice_of(b.name).stop) for b in self.blocks
                 if b.name in names]
        return np.concatenate(parts) if parts else np.arange(0)

    def moving_indices(self) -> np.ndarray:
        """Indices of the values that move something (the drone's velocity, the learners' moves); empty if none."""
        return self.indices([b.name for b in self.blocks if b.moves_something])

    @property
    def per_learner_blocks(self) -> tuple[ActionBlock, ...]:
        return tuple(b for b in self.blocks if b.per_learner)

    @property
    def global_size(self) -> int:
        """Values of the global blocks (a drone's velocity, the amount, the effort)."""
        return sum(b.size(self.num_learners) for b in self.blocks if not b.per_learner)

    @property
    def values_per_learner(self) -> int:
        """Values each learner has in the per-learner blocks (the multi-agent view's action size)."""
        return sum(b.width for b in self.per_learner_blocks)

    def learner_indices(self, k: int) -> np.ndarray:
        """The action indices of learner k's values, block by block (the multi-agent view)."""
        K = self.num_learners
        return np.array([self._starts[b.name] + c * K + k for b in self.per_learner_blocks for c in range(b.width)],
                        dtype=np.int64)

    def describe(self) -> list[tuple[str, str, str]]:
        """(block, indices, meaning) per block, for docs and error messages."""
        rows = []
        for b in self.blocks:
            s = self.slice_of(b.name)
            rows.append((b.name, f"{s.start} .. {s.stop - 1}", b.doc))
        return rows
