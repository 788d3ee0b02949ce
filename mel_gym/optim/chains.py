"""Planning chains of learners for a split model (SplitChain-v0's baselines; docs/chains.md §4).

Every plan is priced with the env's own cost model (:func:`mel_gym.world.chains.chain_costs`) on what the
observation shows (the access rates, CPUs, memory, D2D neighbours and their rates), so a planner's tau is the env's.

- :func:`dp_partition`: for a given order of devices, the partition of the S stages into consecutive blocks, one
  per used device (devices may be skipped), that minimises the bottleneck slot max_i s_i (PipeDream's
  A(j, m) = min_i max(A(i, m - 1), T_m(i + 1 .. j) + comm)), within memory and over existing links; checked against
  :func:`enumerate_partitions`.
- :func:`greedy_chains`: chains built one at a time, the fastest free device that holds the heaviest stage first,
  then for each neighbouring stage the nearest free neighbour (with links both ways) that holds it.
- :func:`single_device_chains`: the fastest devices that hold the whole model, one chain each (no split).
- :func:`best_split`: how many of the chains to run and how to split the samples (quantised to the action's levels,
  as the env reads them) for the largest common tau.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from mel_gym.optim.rounding import apportion
from mel_gym.world.chains import ChainCosts, StageModel, chain_costs
from mel_gym.world.d2d import link_value, member_link_rates

#: A chain: its members in stage order and the first stage each hosts.
Chain = tuple[tuple[int, ...], tuple[int, ...]]


@dataclass(frozen=True)
class ChainInstance:
    """One cycle's chain-planning problem, from an observation. Per-learner arrays (K,), links (K, M)."""

    stages: StageModel
    cpu_hz: np.ndarray
    rate_down_bps: np.ndarray
    rate_up_bps: np.ndarray
    available: np.ndarray
    memory_bytes: np.ndarray
    neighbours: np.ndarray
    neighbour_rate_bps: np.ndarray
    tx_power_w: float
    kappa: float
    sample_bits: float
    deadline_s: float
    max_local_iterations: int
    samples: int  # n, the samples the plan hands out
    max_chains: int
    split_levels: int

    def link_bps(self, sender: int, receiver: int) -> float:
        """Rate of the D2D link sender -> receiver (0: no link)."""
        return link_value(self.neighbour_rate_bps, self.neighbours, sender, receiver)

    def linked(self, a: int, b: int) -> bool:
        return self.link_bps(a, b) > 0 and self.link_bps(b, a) > 0

    def fits(self, device: int, first: int, last: int) -> bool:
        return bool(self.memory_bytes[device] >= self.stages.block_memory_bytes(first, last))

    def costs(self, chain: Chain, samples: int, iterations: int | None = None) -> ChainCosts:
        members, firsts = chain
        m = list(members)
        nxt, prv = member_link_rates(self.neighbour_rate_bps, self.neighbours, np.array(m))
        return chain_costs(self.stages, np.array(firsts), samples, iterations, self.cpu_hz[m], self.rate_down_bps[m],
                           self.rate_up_bps[m], nxt, prv, np.full(len(m), self.tx_power_w), self.kappa,
                           self.sample_bits, True, self.deadline_s, self.max_local_iterations)

    def bottleneck_s(self, chain: Chain) -> float:
        """The chain's largest slot per microbatch, s (inf where a link is missing)."""
        return float(self.costs(chain, self.samples).slot_s.max())

    def valid(self, chain: Chain) -> bool:
        """Stage 0 first, distinct increasing first stages, every block in memory, links both ways, all available."""
        members, firsts = chain
        if not members or firsts[0] != 0 or list(firsts) != sorted(set(firsts)) or len(set(members)) != len(members):
            return False
        blocks = self.stages.blocks(np.array(firsts))
        return (all(self.available[k] and self.fits(k, a, b) for k, (a, b) in zip(members, blocks))
                and all(self.linked(a, b) for a, b in zip(members[:-1], members[1:])))


def dp_partition(inst: ChainInstance, devices: tuple[int, ...]) -> Chain | None:
    """The min-bottleneck partition of the stages over ``devices`` in this order (a subsequence of them used, each
    used device one block of consecutive stages), or None if none is valid. Ties go to fewer devices, then to the
    lexicographically first plan.

    State: (stages placed j, last used device i, its first stage a, the device before it p); its value the largest
    finished slot. A transition places the block [j, j2 - 1] on a later device i2, which finishes i's slot (its
    send to i2 is then known)."""
    S, n = inst.stages.num_stages, len(devices)
    b = min(inst.stages.microbatch, inst.samples)
    per_sample = inst.stages.stage_cycles
    widths = inst.stages.cut_widths
    bits = inst.stages.bits_per_value

    def slot(i: int, a: int, last: int, prev: int | None, nxt: int | None) -> float:
        k = devices[i]
        t = b * per_sample[a:last + 1].sum() / inst.cpu_hz[k] if inst.cpu_hz[k] > 0 else np.inf
        if prev is not None:
            rate = inst.link_bps(k, devices[prev])
            t += b * widths[a - 1] * bits / rate if rate > 0 else np.inf
        if nxt is not None:
            rate = inst.link_bps(k, devices[nxt])
            t += b * widths[last] * bits / rate if rate > 0 else np.inf
        return t

    # best[(j, i, a, p)] = (value, plan as a tuple of (device index, first stage))
    best: dict[tuple, tuple[float, tuple]] = {}
    for i in range(n):
        k = devices[i]
        if not inst.available[k]:
            continue
        for j in range(1, S + 1):
            if inst.fits(k, 0, j - 1):
                best[(j, i, 0, -1)] = (0.0, ((i, 0),))
    finals: list[tuple[float, int, tuple]] = []
    for j in range(1, S + 1):  # states in order of stages placed: every transition adds stages
        for (jj, i, a, p), (value, plan) in sorted(best.items()):
            if jj != j:
                continue
            prev = None if p < 0 else p
            if j == S:
                total = max(value, slot(i, a, S - 1, prev, None))
                finals.append((total, len(plan), plan))
                continue
            for i2 in range(i + 1, n):
                k2 = devices[i2]
                if not inst.available[k2] or not inst.linked(devices[i], k2):
                    continue
                done = max(value, slot(i, a, j - 1, prev, i2))
                for j2 in range(j + 1, S + 1):
                    if not inst.fits(k2, j, j2 - 1):
                        continue
                    key = (j2, i2, j, i)
                    candidate = (done, plan + ((i2, j),))
                    if key not in best or candidate < best[key]:
                        best[key] = candidate
    finals = [f for f in finals if np.isfinite(f[0])]
    if not finals:
        return None
    _, _, plan = min(finals)
    return tuple(devices[i] for i, _ in plan), tuple(first for _, first in plan)


def enumerate_partitions(inst: ChainInstance, devices: tuple[int, ...]) -> list[tuple[float, Chain]]:
    """Every valid partition of the stages over a subsequence of ``devices`` (in order) with its bottleneck: the
    check of :func:`dp_partition` on small instances."""
    S, out = inst.stages.num_stages, []
    for used in range(1, min(S, len(devices)) + 1):
        for subset in itertools.combinations(range(len(devices)), used):
            for cuts in itertools.combinations(range(1, S), used - 1):
                chain = (tuple(devices[i] for i in subset), (0, *cuts))
                if inst.valid(chain):
                    out.append((inst.bottleneck_s(chain), chain))
    return out


def _speed_order(inst: ChainInstance, candidates: np.ndarray) -> list[int]:
    """Candidates fastest first (ties: lower index)."""
    return sorted((int(k) for k in candidates), key=lambda k: (-inst.cpu_hz[k], k))


def greedy_chains(inst: ChainInstance) -> list[Chain]:
    """Up to C chains, one device per stage: the heaviest stage on the fastest free device that holds it, then
    outward stage by stage the nearest free neighbour (links both ways) of the adjacent member that holds it; a
    chain that cannot be completed ends the building."""
    S = inst.stages.num_stages
    heavy = int(np.argmax(inst.stages.stage_cycles))
    free = inst.available & (inst.cpu_hz > 0)
    chains: list[Chain] = []
    while len(chains) < inst.max_chains:
        anchors = [k for k in _speed_order(inst, np.flatnonzero(free)) if inst.fits(k, heavy, heavy)]
        if not anchors:
            break
        hosts = {heavy: anchors[0]}
        taken = {anchors[0]}
        order = list(range(heavy + 1, S)) + list(range(heavy - 1, -1, -1))
        for s in order:
            adjacent = hosts[s - 1] if s > heavy else hosts[s + 1]
            options = [int(k) for k in inst.neighbours[adjacent] if k >= 0 and free[k] and k not in taken
                       and inst.fits(int(k), s, s) and inst.linked(adjacent, int(k))]
            if not options:
                break
            hosts[s] = options[0]  # the nearest (the neighbour lists are nearest first)
            taken.add(options[0])
        if len(hosts) < S:
            break
        chain = (tuple(hosts[s] for s in range(S)), tuple(range(S)))
        chains.append(chain)
        free[list(taken)] = False
    return chains


def single_device_chains(inst: ChainInstance) -> list[Chain]:
    """The fastest (up to C) available devices that hold the whole model, one chain each (no split)."""
    whole = [k for k in _speed_order(inst, np.flatnonzero(inst.available & (inst.cpu_hz > 0)))
             if inst.fits(k, 0, inst.stages.num_stages - 1)]
    return [((k,), (0,)) for k in whole[: inst.max_chains]]


def split_levels(weights: np.ndarray, levels: int) -> np.ndarray:
    """The split level of each chain for split weights (> 0): the largest weight at the top level, the others
    rounded to theirs (level + 1 ∝ weight)."""
    w = np.asarray(weights, dtype=np.float64)
    return np.clip(np.rint(w / w.max() * levels) - 1, 0, levels - 1).astype(np.int64)


def quantised_samples(weights: np.ndarray, levels: int, samples: int) -> tuple[np.ndarray, np.ndarray]:
    """(levels, samples per chain) the env reads from split weights (:func:`split_levels`): samples ∝ level + 1,
    largest remainders, as SplitChain-v0 splits them."""
    level = split_levels(weights, levels)
    return level, apportion((level + 1.0) / (level + 1.0).sum(), samples)


def common_tau(inst: ChainInstance, chains: list[Chain], samples: np.ndarray) -> int:
    """The env's common tau of these chains with these samples: the smallest of the chains that can run one
    iteration (0 if none)."""
    fits = [inst.costs(c, int(d)).iterations for c, d in zip(chains, samples) if d > 0]
    runnable = [f for f in fits if f >= 1]
    return min(runnable) if runnable else 0


def best_split(inst: ChainInstance, chains: list[Chain]) -> tuple[list[Chain], np.ndarray]:
    """(the chains to run, their split weights): for m = 1 .. len(chains) the first m, samples in proportion to each
    chain's speed (1 / its time per sample and iteration), quantised as the env reads them; the m with the largest
    common tau (ties: fewer chains)."""
    best: tuple[int, int, list[Chain], np.ndarray] | None = None
    for m in range(1, len(chains) + 1):
        used = chains[:m]
        speed = np.array([1.0 / max(inst.costs(c, inst.samples).iteration_s / inst.samples, 1e-300) for c in used])
        _, samples = quantised_samples(speed, inst.split_levels, inst.samples)
        tau = common_tau(inst, used, samples)
        if best is None or tau > best[0]:
            best = (tau, m, used, speed)
    if best is None:
        return [], np.zeros(0)
    return best[2], best[3]
