"""SplitChain-v0: form chains of learners that train a model too large for one device, cut into stages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from gymnasium import spaces

from mel_gym.config import Scenario
from mel_gym.envs.action_blocks import ActionBlock, ChainSlot, ChainSplit
from mel_gym.envs.chain_problem import ChainProblem, TopologySnapshot
from mel_gym.envs.choices import ChoiceCore, MaskedEnv, masked_vector_env_class
from mel_gym.envs.params import EnvParams
from mel_gym.schema import ConfigError, param
from mel_gym.simulation import Decision, Outcome
from mel_gym.optim.rounding import apportion
from mel_gym.simulation.cycle import chain_members
from mel_gym.world.chains import chain_costs
from mel_gym.world.d2d import member_link_rates


@dataclass(frozen=True)
class ChainParams(EnvParams):
    """SplitChain-v0: the episode, the reward and the levels of each chain's share of the samples."""

    split_levels: int = param(4, low=1, high=100, doc="levels of each chain's share of the samples: share = (level + 1) "
                                                      "/ the sum over the formed chains")


class SplitChainCore(ChoiceCore):
    """Slots (chain, first stage) per learner and a share level per chain -> chains -> their common tau (see the
    env's docstring)."""

    params_class: ClassVar[type[EnvParams]] = ChainParams
    default_scenario: ClassVar[str] = "chains"
    planner_name: ClassVar[str] = "chain-dp-fraction"

    def check_scenario(self, s: Scenario) -> None:
        super().check_scenario(s)
        if s.mode != "pl":
            raise ConfigError("SplitChain-v0 needs scenario key 'mode' = 'pl': a chain's head receives its samples from "
                              "the orchestrator")
        if not s.d2d.enabled:
            raise ConfigError("SplitChain-v0 needs scenario key 'd2d.enabled' = true: a chain's members pass "
                              "activations over device-to-device links")

    # ---------------------------------------------------------------------------------------------- spaces
    def action_blocks(self) -> tuple[ActionBlock, ...]:
        return (ChainSlot(), ChainSplit(self.scenario.chains.max_chains))

    def build_env_problem(self) -> ChainProblem:
        s, sim = self.scenario, self.sim
        links = sim.world.d2d
        return ChainProblem(
            world=self.world_problem(), stages=sim.stage_model, actions=self.layout, max_chains=s.chains.max_chains,
            split_levels=self.params.split_levels, neighbours=links.neighbours.shape[2],
            memory_scale_bytes=float(max(s.chains.memory_classes_bytes)), d2d_bandwidth_hz=links.params.bandwidth_hz,
            fraction_levels=self.params.fraction_levels, min_fraction=self.params.min_fraction,
            action_mode=self.params.action_mode, planner_name=self.active_planner)

    def build_action_space(self) -> spaces.MultiDiscrete:
        p = self.problem
        levels = [self.params.fraction_levels] if self.has_amount else []
        return spaces.MultiDiscrete(np.array([p.num_slots] * p.num_learners + [p.split_levels] * p.max_chains + levels,
                                             dtype=np.int64))

    def entry_meaning(self, entry: int) -> str:
        K, C = self.problem.num_learners, self.problem.max_chains
        return "a slot: 0 idle or 1 + c S + s" if entry < K else "a split level" if entry < K + C else "an amount level"

    def learner_masks(self) -> np.ndarray:
        """(n_envs, K, 1 + C S): every learner's slots it may take this cycle (it can take part, the stage fits its
        memory)."""
        world = self.sim.world
        return self.problem.slot_mask(world.available, world.memory_bytes)

    # ---------------------------------------------------------------------------------------------- cycle
    def chains_of(self, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(chain_of, first_stage, idled), (n_envs, K): the chains the slots form. A masked slot idles the learner; a
        first stage taken twice in a chain keeps its lowest-index learner; a chain without stage 0, with a member
        whose block does not fit its memory, or with consecutive members that have no D2D link is not formed (its
        members idle). ``idled``: learners whose non-idle slot was dropped by these rules."""
        p, world = self.problem, self.sim.world
        S = p.num_stages
        allowed = np.take_along_axis(p.slot_mask(world.available, world.memory_bytes), slots[..., None], axis=-1)[..., 0]
        wanted = slots > 0
        chain_of = np.where(wanted & allowed, (slots - 1) // S, -1)
        first = np.where(chain_of >= 0, (slots - 1) % S, 0)
        links = world.d2d_links()
        for i in range(self.n_envs):
            for c in np.unique(chain_of[i][chain_of[i] >= 0]):
                members = chain_members(chain_of, first, i, c)
                stages = first[i, members]
                duplicate = np.concatenate([[False], stages[1:] == stages[:-1]])  # stable: lowest index first
                chain_of[i, members[duplicate]] = -1
                members = members[~duplicate]
                blocks = p.stages.blocks(first[i, members])
                ok = first[i, members[0]] == 0 and all(
                    world.memory_bytes[i, k] >= p.stages.block_memory_bytes(a, b) for k, (a, b) in zip(members, blocks))
                ok = ok and all(b in links.neighbours[i, a] and a in links.neighbours[i, b]
                                for a, b in zip(members[:-1], members[1:]))
                if not ok:
                    chain_of[i, members] = -1
        first = np.where(chain_of >= 0, first, 0)
        return chain_of, first, wanted & (chain_of < 0)

    def decide(self, actions: np.ndarray, samples: np.ndarray) -> Decision:
        p, sim, s = self.problem, self.sim, self.scenario
        K, C = p.num_learners, p.max_chains
        chain_of, first, self._idled = self.chains_of(actions[:, :K])
        levels = actions[:, K : K + C]
        world = sim.world
        cpu = world.cpu_available_hz()
        rate_down, rate_up = world.rates_bps()
        links = world.d2d_links()
        rates = links.rates_bps(np.broadcast_to(world.tx_power_w, (self.n_envs, K)))
        task_sizes = np.zeros((self.n_envs, K), dtype=np.int64)
        tau = np.zeros((self.n_envs, K), dtype=np.int64)
        for i in range(self.n_envs):
            formed = [c for c in range(C) if np.any(chain_of[i] == c)]
            if not formed:
                continue
            weights = levels[i, formed] + 1.0
            shares = apportion(weights / weights.sum(), int(samples[i]))
            heads, fits = [], []
            for c, d_c in zip(formed, shares):
                members = chain_members(chain_of, first, i, c)
                if d_c == 0:  # fewer samples than chains: this chain gets none and idles
                    chain_of[i, members] = -1
                    self._idled[i, members] = True
                    continue
                nxt, prv = member_link_rates(rates[i], links.neighbours[i], members)
                costs = chain_costs(p.stages, first[i, members], int(d_c), None, cpu[i, members], rate_down[i, members],
                                    rate_up[i, members], nxt, prv, np.full(len(members), world.tx_power_w),
                                    sim.cost.kappa, sim.cost.sample_bits, sim.cost.sends_data,
                                    sim.cost.cycle_deadline_s, s.max_local_iterations)
                task_sizes[i, members[0]] = d_c
                heads.append(members[0])
                fits.append(costs.iterations)
            runnable = [f for f in fits if f >= 1]
            common = min(runnable) if runnable else 0  # chains that cannot run one iteration run it anyway, and miss T
            tau[i, heads] = common
        first = np.where(chain_of >= 0, first, 0)
        return Decision(task_sizes=task_sizes, local_iterations=tau, chain_of=chain_of, first_stage=first)

    def reported_tau(self, decision: Decision) -> np.ndarray:
        return decision.local_iterations.max(axis=1)

    def decision_info(self, decision: Decision) -> dict[str, np.ndarray]:
        return {"chain_of": decision.chain_of, "first_stage": decision.first_stage, "slot_idled": self._idled}

    def outcome_info(self, out: Outcome) -> dict[str, np.ndarray]:
        return dict(out.topology)

    def observation_sources(self) -> dict:
        world = self.sim.world
        links = world.d2d_links()
        rates = links.rates_bps(np.broadcast_to(world.tx_power_w, world.memory_bytes.shape))
        return {**super().observation_sources(),
                "topology": TopologySnapshot(world.memory_bytes, links.neighbours, rates)}


class SplitChainEnv(MaskedEnv):
    """Chains of learners training a split model (the seed's "chain formation for cascaded learning").

    The job's MLP (e.g. the seed's 784-300-124-60-10) is cut after the layers ``chains.cuts`` into S stages. Each
    cycle the agent forms up to C = ``chains.max_chains`` chains: every learner is idle or takes a slot (chain c,
    first stage s) and hosts stage s up to the next member's first stage; the cycle's samples are split between the
    formed chains. A chain downloads its stages (its head also the samples), runs tau iterations as a pipeline of
    microbatches whose activations and gradients cross device-to-device links, and uploads its stages' parameters,
    all within T; tau is the largest every chain that can run one iteration meets. Each chain trains the whole model
    on its samples and the orchestrator averages the chains (FedAvg over chains, exact for a synchronous pipeline).
    Formulas: docs/chains.md.

    ## Action space

    ``MultiDiscrete([1 + C S] * K + [split_levels] * C)`` (then the amount level with ``amount_action``): learner k's
    slot, 0 idle or 1 + c S + s; chain c's share level, its share (level + 1) / the sum over the formed chains.
    ``action_masks()`` (single and vector env): a learner may take a slot when it can take part and the stage fits its
    memory. Bad choices never corrupt state: a masked slot idles the learner; a first stage taken twice in a chain
    keeps the lowest-index learner; a chain without stage 0, with a member whose block does not fit its memory or with
    consecutive members out of D2D range is not formed (its members idle); ``info["slot_idled"]`` marks them.

    ## Observation space

    ``Box(float32, (14K + 3 + K + 2KM + 3S,))``: TaskAllocation-v0's features, then each learner's memory, its M
    nearest neighbours and their link rates, and the stages' parameters, cycles and cut widths
    (:mod:`mel_gym.envs.chain_problem`; ``env.unwrapped.problem.decode(obs)``).

    ## Reward, episode

    As TaskAllocation-v0's, the work bonus counting each chain's d_c tau once.

    ## Info

    TaskAllocation-v0's per-learner entries (a chain's task at its head), ``chain_of`` and ``first_stage`` (K,),
    ``slot_idled`` (K,), ``activation_bits`` (K,: sent over D2D links), ``chain_formed``, ``chain_delivered``,
    ``chain_samples``, ``chain_time_s`` (the chain's cycle, at most T), ``chain_iteration_s`` (C,), and
    ``stage_compute_s`` (C, S: compute time per iteration of the member hosting each stage).
    """

    core_class = SplitChainCore

    def render_overlay(self, info: dict) -> dict:
        """The last cycle's chains, drawn as paths between their members, the head marked by a square."""
        return {"chains": chains_of_info(info)}


def chains_of_info(info: dict) -> list[np.ndarray]:
    """The chains of a step's info: each chain's members in stage order (learner indices)."""
    chain_of, first = np.asarray(info["chain_of"]), np.asarray(info["first_stage"])
    chains = []
    for c in np.unique(chain_of[chain_of >= 0]):
        members = np.flatnonzero(chain_of == c)
        chains.append(members[np.argsort(first[members], kind="stable")])
    return chains


class SplitChainVectorEnv(masked_vector_env_class(SplitChainEnv)):
    """Native vector env of :class:`SplitChainEnv`, with the action masks of every sub-env."""
