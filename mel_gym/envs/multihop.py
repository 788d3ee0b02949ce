"""MultiHop-v0: learners out of the orchestrator's range deliver their updates over routes of other learners."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from gymnasium import spaces

from mel_gym.config import Scenario
from mel_gym.envs.action_blocks import ActionBlock, NextHop, RouteShare
from mel_gym.envs.choices import ChoiceCore, MaskedEnv, masked_vector_env_class
from mel_gym.envs.params import EnvParams
from mel_gym.envs.route_problem import NO_ROUTE, RouteProblem, RouteSnapshot
from mel_gym.optim.routes import least_route_time_s, tree_plan, usable_link_times
from mel_gym.schema import ConfigError, param
from mel_gym.simulation import Decision, Outcome
from mel_gym.simulation.cycle import parent_link_rates
from mel_gym.world.routes import route_roots


@dataclass(frozen=True)
class RouteParams(EnvParams):
    """MultiHop-v0: the episode, the reward and the levels of each learner's share of its capacity."""

    share_levels: int = param(5, low=2, high=100, doc="levels of a learner's task: 0 relay only, l >= 1 a task of l / "
                                                      "(share_levels - 1) of its capacity on the tree")


class MultiHopCore(ChoiceCore):
    """Next hops and share levels per learner -> a tree, HA-Sync tasks on it -> the cycle over the routes (see the
    env's docstring)."""

    params_class: ClassVar[type[EnvParams]] = RouteParams
    default_scenario: ClassVar[str] = "multihop"
    planner_name: ClassVar[str] = "shortest-path-tree-fraction"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._obs: np.ndarray | None = None
        self._idled = np.zeros((self.n_envs, self.scenario.num_learners), dtype=bool)

    def check_scenario(self, s: Scenario) -> None:
        super().check_scenario(s)
        if s.mode != "fl":
            raise ConfigError("MultiHop-v0 needs scenario key 'mode' = 'fl': routes carry model updates, not samples")
        if not s.d2d.enabled:
            raise ConfigError("MultiHop-v0 needs scenario key 'd2d.enabled' = true: relays use device-to-device links")

    # ---------------------------------------------------------------------------------------------- spaces
    def action_blocks(self) -> tuple[ActionBlock, ...]:
        return (NextHop(), RouteShare())

    def build_env_problem(self) -> RouteProblem:
        s, sim = self.scenario, self.sim
        links = sim.world.d2d
        return RouteProblem(
            world=self.world_problem(), actions=self.layout, neighbours=links.neighbours.shape[2],
            share_levels=self.params.share_levels, d2d_bandwidth_hz=links.params.bandwidth_hz,
            aggregate=s.multihop.aggregation == "in_route", aggregation_s=s.multihop.aggregation_s,
            fraction_levels=self.params.fraction_levels, min_fraction=self.params.min_fraction,
            action_mode=self.params.action_mode, planner_name=self.active_planner)

    def build_action_space(self) -> spaces.MultiDiscrete:
        p = self.problem
        levels = [self.params.fraction_levels] if self.has_amount else []
        K = p.num_learners
        return spaces.MultiDiscrete(np.array([p.num_choices] * K + [p.share_levels] * K + levels, dtype=np.int64))

    def entry_meaning(self, entry: int) -> str:
        K = self.problem.num_learners
        return ("a next hop: 0 idle, 1 the orchestrator, 2 + m neighbour m" if entry < K
                else "a share level" if entry < 2 * K else "an amount level")

    # ---------------------------------------------------------------------------------------------- observation
    def route_snapshot(self) -> RouteSnapshot:
        """The route block's source: every env's links and each learner's least route time (s; inf: none)."""
        world = self.sim.world
        links = world.d2d_links()
        rates = links.rates_bps(np.broadcast_to(world.tx_power_w, world.can_work.shape))
        rate_up = world.rates_bps()[1]
        route_s = np.stack([self._route_times(i, rates[i], rate_up[i]) for i in range(self.n_envs)])
        return RouteSnapshot(links.neighbours.copy(), rates, route_s)

    def _route_times(self, i: int, rates: np.ndarray, rate_up: np.ndarray) -> np.ndarray:
        world = self.sim.world
        neighbours = world.d2d.neighbours[i]
        root_s, link_s = usable_link_times(self.sim.cost.model_bits, world.available[i], world.can_work[i], rate_up,
                                           neighbours, rates)
        return least_route_time_s(root_s, neighbours, link_s)

    def observation_sources(self) -> dict:
        return {**super().observation_sources(), "routes": self.route_snapshot()}

    def observe(self) -> np.ndarray:
        """As every env's, and kept: the masks and the decision read the observation the agent acted on."""
        self._obs = super().observe()
        return self._obs

    def learner_masks(self) -> np.ndarray:
        """(n_envs, K, 2 + M) bool: the next hops every learner may choose this cycle (from the last observation)."""
        if self._obs is None:
            self.observe()
        p = self.problem
        return np.stack([p.hop_mask(p.decode(self._obs[i])) for i in range(self.n_envs)])

    # ---------------------------------------------------------------------------------------------- cycle
    def trees(self, choices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(next_hop, idled), (n_envs, K): the routes the choices form, in learner-index form (-2 none, -1 the
        orchestrator). A masked choice idles the learner, and so does a route through an idle learner; ``idled``
        marks learners whose non-idle choice was dropped by these rules. No allowed choice closes a loop."""
        p, world = self.problem, self.sim.world
        allowed = np.take_along_axis(self.learner_masks(), choices[..., None], axis=-1)[..., 0]
        next_hop = np.stack([p.next_hops(np.where(allowed[i], choices[i], 0), world.d2d.neighbours[i])
                             for i in range(self.n_envs)])
        for i in range(self.n_envs):
            on = next_hop[i] > NO_ROUTE
            top = route_roots(np.where(on, next_hop[i], -1))[0]  # an idle learner is a top here: its route ends
            broken = on & ((top < 0) | ~on[np.maximum(top, 0)])
            next_hop[i] = np.where(broken, NO_ROUTE, next_hop[i])
        return next_hop, (choices > 0) & (next_hop == NO_ROUTE)

    def decide(self, actions: np.ndarray, samples: np.ndarray) -> Decision:
        p, sim, s = self.problem, self.sim, self.scenario
        K = p.num_learners
        next_hop, self._idled = self.trees(actions[:, :K])
        levels = actions[:, K : 2 * K]
        world = sim.world
        cpu = world.cpu_available_hz()
        rate_down, rate_up = world.rates_bps()
        links = world.d2d_links()
        rates = links.rates_bps(np.broadcast_to(world.tx_power_w, (self.n_envs, K)))
        task_sizes = np.zeros((self.n_envs, K), dtype=np.int64)
        tau = np.zeros((self.n_envs, K), dtype=np.int64)
        for i in range(self.n_envs):
            on = next_hop[i] > NO_ROUTE
            weights = np.where(on, levels[i] / (p.share_levels - 1), 0.0)
            parent = np.where(on, next_hop[i], -1)
            common, d = tree_plan(parent, weights, rate_down[i], parent_link_rates(rates[i], links.neighbours[i],
                                                                                   next_hop[i], rate_up[i]),
                                  cpu[i], sim.task_caps[i], int(samples[i]), sim.cost.model_bits,
                                  sim.cost.cycles_per_sample, sim.cost.cycle_deadline_s, s.max_local_iterations,
                                  p.aggregate, p.aggregation_s)
            task_sizes[i] = d
            tau[i] = np.where(d > 0, common, 0)
        return Decision(task_sizes=task_sizes, local_iterations=tau, next_hop=next_hop)

    def decision_info(self, decision: Decision) -> dict[str, np.ndarray]:
        return {"route_idled": self._idled}

    def outcome_info(self, out: Outcome) -> dict[str, np.ndarray]:
        return dict(out.topology)


class MultiHopEnv(MaskedEnv):
    """Multi-hop routes with in-route aggregation (the seed's "route formation for multi-hop settings").

    Learners are spread over an area larger than the orchestrator's range (scenario keys ``placement.max_distance_m``
    and ``orchestrator.range_m``). Each cycle every learner chooses the next hop of its update: the orchestrator (in
    range) or one of its D2D neighbours, which relays it. The model comes down the same tree (the orchestrator's
    downlink to each top of a route, then each relay's broadcast to its children), each learner with a task trains
    tau iterations on d_k samples of its own data (FL), and the updates go up the tree: a node sends once its own
    update is ready and every child's message has arrived; a relay aggregates in route (one partial aggregate: the sum
    of n_k w_k and of n_k) or forwards each update (scenario key ``multihop.aggregation``). Updates that miss T are
    dropped and still pay their energy. The orchestrator averages what arrived (FedAvg: in-route partial sums give the
    same average). The tasks: HA-Sync on the tree, each learner's capacity scaled by its share level. Formulas:
    docs/multihop.md.

    ## Action space

    ``MultiDiscrete([2 + M] * K + [share_levels] * K)`` (then the amount level with ``amount_action``): learner k's
    next hop, 0 idle, 1 the orchestrator, 2 + m its neighbour m (the m-th nearest, as in the observation); its share
    level, 0 relay only, l >= 1 a task of l / (L - 1) of its capacity on the tree. ``action_masks()`` (single and vector
    env) allow the orchestrator in range and a neighbour strictly nearer the orchestrator in least route time, so no
    allowed choice closes a loop. Bad choices never corrupt state: a masked next hop idles the learner, so does a route
    through an idle learner; ``info["route_idled"]`` marks them.

    ## Observation space

    ``Box(float32, (14K + 3 + 2KM + K,))``: TaskAllocation-v0's features, then each learner's M nearest neighbours, the
    rates of its links to them and its least route time to the orchestrator (:mod:`mel_gym.envs.route_problem`;
    ``env.unwrapped.problem.decode(obs)``).

    ## Reward, episode

    As TaskAllocation-v0's.

    ## Info

    TaskAllocation-v0's per-learner entries, and per learner (K,): ``next_hop`` (-2 none, -1 the orchestrator, j a
    learner), ``route_idled``, ``hops`` (links from k to the orchestrator; -1: no update), ``aggregated_at`` (the
    learner that first merged k's update with others; -1: the orchestrator), ``link_bits`` (sent to the next hop),
    ``model_relay_bits`` (the model broadcast to its children), ``late`` (its update missed T), ``relay_energy_j``
    (spent for others) and ``delivery_s`` (when its update reached the orchestrator; -1: none or never).
    """

    core_class = MultiHopCore

    def render_overlay(self, info: dict) -> dict:
        """The last cycle's tree: each learner's link to its next hop (an arrow to a relay or to the orchestrator)."""
        return {"routes": np.asarray(info["next_hop"])}


class MultiHopVectorEnv(masked_vector_env_class(MultiHopEnv)):
    """Native vector env of :class:`MultiHopEnv`, with the action masks of every sub-env."""
