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

import numpy as np

from mel_gym.config import Scenario
from mel_gym.learning.trainer import Scores
from mel_gym.world.chains import StageModel, chain_costs
from mel_gym.world.costs import DEADLINE_RTOL, CostModel, CycleCosts
from mel_gym.world.d2d import link_values, member_link_rates
from mel_gym.world.routes import from_root, model_arrival_s, route_costs, route_roots, subtree_updates
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
        chain_of: (n_envs, K) int, the chain learner k is a member of (-1: none); with it the cycle is the chains'
            (:func:`run_chain_physics`): a chain's samples and tau are its head's (the member with first stage 0)
            ``task_sizes`` and ``local_iterations``, every other member's task is 0.
        first_stage: (n_envs, K) int, the first model stage a chain member hosts (its block runs to the next
            member's first stage); needed with ``chain_of``.
        next_hop: (n_envs, K) int, where learner k sends its update (and gets the model from): -1 the orchestrator,
            j another learner (a D2D neighbour), -2 nowhere (not on a route); with it the cycle is the routes'
            (:func:`run_route_physics`). FL only.
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
    chain_of: np.ndarray | None = None
    first_stage: np.ndarray | None = None
    next_hop: np.ndarray | None = None


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
    loss_before: np.ndarray  # (n_envs,) validation loss before the cycle, nats (what the reward uses)
    accuracy_before: np.ndarray  # (n_envs,) validation accuracy
    loss_after: np.ndarray  # (n_envs,)
    accuracy_after: np.ndarray  # (n_envs,)
    test_loss_after: np.ndarray  # (n_envs,) test loss after the cycle, nats (reported only)
    test_accuracy_after: np.ndarray  # (n_envs,)
    cycle: np.ndarray  # (n_envs,) index of the cycle just run, from 0
    topology: dict[str, np.ndarray] | None = None  # the chains' or routes' report (:func:`run_chain_physics`,
    # :func:`run_route_physics`), else None


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
    topology: dict[str, np.ndarray] | None = None

    def outcome(self, finished: np.ndarray, diverged: np.ndarray, backup_used: np.ndarray, task_sizes: np.ndarray,
                iterations: np.ndarray, before: Scores, after: Scores, cycle: np.ndarray) -> Outcome:
        """The cycle's :class:`Outcome`, with what the learning side adds (the models' scores before and after)."""
        c = self.costs
        return Outcome(
            participants=self.participants, finished=finished, stragglers=self.stragglers, depleted=self.depleted,
            diverged=diverged, over_cap=self.over_cap, outage=self.outage, compute_dropped=self.compute_dropped,
            backup_used=backup_used, task_sizes=task_sizes, local_iterations=iterations,
            rate_down_bps=self.rate_down_bps, rate_up_bps=self.rate_up_bps, time_send_s=c.time_send_s,
            time_compute_s=c.time_compute_s, time_return_s=c.time_return_s, time_s=c.time_s,
            energy_compute_j=c.energy_compute_j, energy_transmit_j=c.energy_transmit_j, energy_j=c.energy_j,
            loss_before=before.loss, accuracy_before=before.accuracy, loss_after=after.loss,
            accuracy_after=after.accuracy, test_loss_after=after.test_loss, test_accuracy_after=after.test_accuracy,
            cycle=cycle, topology=self.topology,
        )


def run_physics(world: World, cost: CostModel, decision: Decision, task_sizes: np.ndarray, iterations: np.ndarray,
                cycle_cap_j: float | None) -> Physics:
    """Steps 1-2 of a cycle (module docstring) for validated integer ``task_sizes`` and ``iterations`` (n_envs, K):
    move what the decision moves, charge each learner its time and energy (``cost``: one model, or arrays of each
    learner's job, :mod:`mel_gym.simulation.jobs`), drain the batteries and say whose result is delivered."""
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


def _topology_links(world: World, decision: Decision) -> tuple:
    """What a cycle over D2D links reads of the world, arrays (n_envs, K): the CPU each learner really has, the
    senders' powers, the access links' rates and outages, the CPU drops, the D2D links and their rates
    (n_envs, K, M) at those powers."""
    shape = world.state.battery_j.shape
    power = np.broadcast_to(np.asarray(world.tx_power_w if decision.tx_power_w is None else decision.tx_power_w,
                                       dtype=np.float64), shape)
    rate_down, rate_up = world.rates_bps(decision.tx_power_w, decision.bandwidth_hz)
    links = world.d2d_links()
    return (world.cpu_available_hz(reported=False), power, rate_down, rate_up,
            world.link_outage(decision.tx_power_w, decision.bandwidth_hz), world.compute_dropped(), links,
            links.rates_bps(power))


def chain_members(chain_of: np.ndarray, first_stage: np.ndarray, env: int, chain: int) -> np.ndarray:
    """The learners of ``chain`` in env ``env`` in stage order (by their first stage)."""
    members = np.flatnonzero(chain_of[env] == chain)
    return members[np.argsort(first_stage[env, members], kind="stable")]


def run_chain_physics(world: World, cost: CostModel, model: StageModel, decision: Decision, task_sizes: np.ndarray,
                      iterations: np.ndarray, cycle_cap_j: float | None, max_local_iterations: int,
                      num_chains: int) -> Physics:
    """Steps 1-2 of a cycle of chains (:mod:`mel_gym.world.chains`): each chain's members are charged their times
    and energies (at the CPU share they really have, over the cycle's D2D links), the batteries drain, and a chain's
    result is delivered when it meets T, no member hits its energy cap or empties its battery, and every member's
    uplink holds. ``delivered`` is the chain's for every member; only the head holds the chain's task. The report
    (``Physics.topology``): ``chain_formed``, ``chain_time_s``, ``chain_iteration_s``, ``chain_samples``,
    ``chain_delivered`` (n_envs, C), ``stage_compute_s`` (n_envs, C, S: the compute time per iteration of the
    member hosting each stage) and ``activation_bits`` (n_envs, K: sent over D2D links); C = ``num_chains``."""
    chain_of = np.asarray(decision.chain_of)
    first = np.asarray(decision.first_stage)
    n_envs, K = chain_of.shape
    C, S = num_chains, model.num_stages
    cpu, power, rate_down, rate_up, outage, compute_dropped, links, d2d_rates = _topology_links(world, decision)
    fields = ("time_send_s", "time_compute_s", "time_return_s", "energy_compute_j", "energy_transmit_j")
    per_learner = {name: np.zeros((n_envs, K)) for name in fields}
    in_time = np.zeros((n_envs, K), dtype=bool)
    activation_bits = np.zeros((n_envs, K))
    report = {"chain_formed": np.zeros((n_envs, C), dtype=bool), "chain_time_s": np.zeros((n_envs, C)),
              "chain_iteration_s": np.zeros((n_envs, C)), "chain_samples": np.zeros((n_envs, C), dtype=np.int64),
              "stage_compute_s": np.zeros((n_envs, C, S))}
    for i in range(n_envs):
        for c in range(C):
            members = chain_members(chain_of, first, i, c)
            if members.size == 0:
                continue
            head = members[0]
            nxt, prv = member_link_rates(d2d_rates[i], links.neighbours[i], members)
            costs = chain_costs(model, first[i, members], int(task_sizes[i, head]), int(iterations[i, head]),
                                cpu[i, members], rate_down[i, members], rate_up[i, members], nxt, prv, power[i, members], cost.kappa, cost.sample_bits, cost.sends_data,
                                cost.cycle_deadline_s, max_local_iterations)
            for name in fields:
                per_learner[name][i, members] = getattr(costs, name)
            in_time[i, members] = costs.in_time
            activation_bits[i, members] = costs.activation_bits
            report["chain_formed"][i, c] = True
            report["chain_time_s"][i, c] = min(costs.time_s, cost.cycle_deadline_s) if np.isfinite(costs.time_s) \
                else cost.cycle_deadline_s
            report["chain_iteration_s"][i, c] = costs.iteration_s if np.isfinite(costs.iteration_s) else 0.0
            report["chain_samples"][i, c] = int(task_sizes[i, head])
            for (a, b), t in zip(model.blocks(first[i, members]), costs.compute_s):
                report["stage_compute_s"][i, c, a:b + 1] = t if np.isfinite(t) else 0.0
    participants = chain_of >= 0
    cap_j = np.inf if cycle_cap_j is None else cycle_cap_j
    battery = world.state.battery_j
    wanted = per_learner["energy_compute_j"] + per_learner["energy_transmit_j"]
    limit = np.minimum(cap_j, battery)
    over_cap = participants & (wanted * (1.0 - DEADLINE_RTOL) > cap_j) & (cap_j <= battery)
    depleted = participants & (wanted * (1.0 - DEADLINE_RTOL) > battery) & (battery < cap_j)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(wanted > limit, limit / wanted, 1.0)  # a member stops at its limit
    for name in ("energy_compute_j", "energy_transmit_j"):
        per_learner[name] = per_learner[name] * scale
    costs = CycleCosts(in_time=in_time, energy_wanted_j=wanted, **per_learner)
    world.drain(costs.energy_j)
    ok = in_time & ~over_cap & ~depleted & ~outage
    delivered = np.zeros((n_envs, K), dtype=bool)
    report["chain_delivered"] = np.zeros((n_envs, C), dtype=bool)
    for c in range(C):  # a chain delivers when all its members do
        member = chain_of == c
        chain_ok = report["chain_formed"][:, c] & np.all(ok | ~member, axis=1)
        delivered |= member & chain_ok[:, None]
        report["chain_delivered"][:, c] = chain_ok
    report["activation_bits"] = activation_bits
    return Physics(participants=participants, delivered=delivered, stragglers=participants & ~in_time,
                   depleted=depleted, over_cap=over_cap, outage=outage, compute_dropped=compute_dropped,
                   rate_down_bps=rate_down, rate_up_bps=rate_up, costs=costs, topology=report)


@dataclass(frozen=True)
class RouteRules:
    """How routes carry updates (scenario section ``multihop``): in-route aggregation or forwarding, the time a relay
    takes to aggregate (s) and the energy of receiving a bit over a D2D link (J/bit, ``d2d.receive_j_per_bit``)."""

    aggregate: bool
    aggregation_s: float
    receive_j_per_bit: float


def parent_link_rates(d2d_rates: np.ndarray, neighbours: np.ndarray, parent: np.ndarray,
                      rate_up_bps: np.ndarray) -> np.ndarray:
    """(K,) the rate of each learner's link to its next hop, of one env: its uplink where the next hop is the
    orchestrator (-1), the D2D link's rate (``d2d_rates``, ``neighbours`` (K, M)) where it is a learner, 0 where that
    learner is not a neighbour."""
    d2d = link_values(d2d_rates, neighbours, np.arange(parent.size), parent)
    return np.where(parent >= 0, d2d, np.where(parent == -1, rate_up_bps, 0.0))


def merge_points(parent: np.ndarray, updates: np.ndarray, has_update: np.ndarray) -> np.ndarray:
    """(K,) for each learner with an update, the first learner up its route whose subtree holds more updates than the
    part of the route below it (where k's update is first added to others), -1: the orchestrator (or no update)."""
    K = parent.size
    node = np.arange(K)
    merged = np.full(K, -1)
    walking = np.asarray(has_update, dtype=bool).copy()
    for _ in range(K):
        up = parent[node]
        walking &= up >= 0
        if not walking.any():
            break
        hit = walking & (updates[np.maximum(up, 0)] > updates[node])
        merged[hit] = up[hit]
        walking &= ~hit
        node = np.where(walking, up, node)
    return merged


def run_route_physics(world: World, cost: CostModel, decision: Decision, task_sizes: np.ndarray,
                      iterations: np.ndarray, cycle_cap_j: float | None, rules: RouteRules) -> Physics:
    """Steps 1-2 of a cycle over multi-hop routes (:mod:`mel_gym.world.routes`, docs/multihop.md): the model comes down
    the tree (the orchestrator's downlink to each top, a relay's broadcast to its children), each learner with a task
    computes tau d_k C_m / f_k at the CPU share it really has, and the updates go up the tree (aggregated in route or
    forwarded), each node sending once it has its own update and every child's message. An update counts when its
    route's top delivers it by T, the top's uplink holds, and no node on its route hit its energy cap or emptied its
    battery (such a node stops, and what went through it is lost). Late updates are dropped and still pay their
    energy. Learners on no route (next hop -2) spend nothing. The report (``Physics.topology``, (n_envs, K) each):
    ``next_hop``, ``hops`` (-1: no update), ``aggregated_at`` (the learner that first merged k's update with others,
    -1: the orchestrator), ``link_bits`` (sent to the next hop), ``model_relay_bits`` (the model broadcast to
    children), ``late``, ``relay_energy_j`` (spent for others: D2D receptions, the model's broadcast, and bits sent
    beyond its own update) and ``delivery_s`` (when k's update reached the orchestrator, -1: none or never)."""
    hop_choice = np.asarray(decision.next_hop, dtype=np.int64)
    n_envs, K = hop_choice.shape
    T = cost.cycle_deadline_s
    cpu, power, rate_down, rate_up, outage, compute_dropped, links, d2d_rates = _topology_links(world, decision)
    compute_s = cost.compute_time_s(task_sizes, iterations, cpu)
    compute_j = cost.compute_power_w(cpu, cost.kappa) * compute_s
    shape = (n_envs, K)
    send, ret, transmit, receive = (np.zeros(shape) for _ in range(4))
    on_time = np.zeros(shape, dtype=bool)
    report = {"next_hop": hop_choice.copy(), "hops": np.full(shape, -1), "aggregated_at": np.full(shape, -1),
              "link_bits": np.zeros(shape), "model_relay_bits": np.zeros(shape), "late": np.zeros(shape, dtype=bool),
              "relay_energy_j": np.zeros(shape), "delivery_s": np.full(shape, -1.0)}
    tops, depths = np.full(shape, -1), np.full(shape, -1)
    parents = np.where(hop_choice >= 0, hop_choice, -1)
    for i in range(n_envs):
        parent = parents[i]
        has = task_sizes[i] > 0
        rate = parent_link_rates(d2d_rates[i], links.neighbours[i], parent, rate_up[i])
        depth = depths[i] = route_roots(parent)[1]
        updates = subtree_updates(parent, has, depth)
        active = updates > 0
        relay = model_arrival_s(parent, active, depth, rate_down[i], rate, cost.model_bits)
        r = route_costs(parent, has, relay.arrival_s + compute_s[i], rate, cost.model_bits, rules.aggregate, T,
                        power[i], rules.aggregation_s, rules.receive_j_per_bit)
        model_rx = np.where(active & (parent >= 0), rules.receive_j_per_bit * cost.model_bits, 0.0)
        own_bits = np.where(has, cost.model_bits, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            extra_tx = np.where(r.message_bits > own_bits, r.energy_transmit_j * (1.0 - own_bits / r.message_bits), 0.0)
        broadcast_j = power[i] * np.where(np.isfinite(relay.broadcast_s), relay.broadcast_s, 0.0)
        send[i] = np.where(active, np.minimum(relay.arrival_s, T), 0.0)
        finish = np.where(active, np.minimum(r.finish_s, T), 0.0)
        ret[i] = np.maximum(finish - send[i] - np.minimum(compute_s[i], np.maximum(T - send[i], 0.0)), 0.0)
        transmit[i] = r.energy_transmit_j + broadcast_j
        receive[i] = r.energy_receive_j + model_rx
        on_time[i] = r.delivered
        tops[i] = r.top
        report["hops"][i] = np.where(has & ~r.cut_off, r.hops, -1)
        report["aggregated_at"][i] = merge_points(parent, updates, has & rules.aggregate)
        report["link_bits"][i] = np.where(active, r.message_bits, 0.0)
        report["model_relay_bits"][i] = relay.broadcast_bits
        report["late"][i] = has & ~r.delivered
        report["relay_energy_j"][i] = receive[i] + broadcast_j + extra_tx
        report["delivery_s"][i] = np.where(has & np.isfinite(r.arrival_s), r.arrival_s, -1.0)
    participants = task_sizes > 0
    working = participants | (report["link_bits"] > 0)
    compute_time = np.where(participants, np.minimum(compute_s, np.maximum(T - send, 0.0)), 0.0)
    cap_j = np.inf if cycle_cap_j is None else cycle_cap_j
    battery = world.state.battery_j
    wanted = compute_j + transmit + receive
    limit = np.minimum(cap_j, battery)
    over_cap = working & (wanted * (1.0 - DEADLINE_RTOL) > cap_j) & (cap_j <= battery)
    depleted = working & (wanted * (1.0 - DEADLINE_RTOL) > battery) & (battery < cap_j)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(wanted > limit, limit / wanted, 1.0)  # a learner stops at its limit
    costs = CycleCosts(time_send_s=send, time_compute_s=compute_time, time_return_s=ret,
                       energy_compute_j=compute_j * scale, energy_transmit_j=(transmit + receive) * scale,
                       in_time=on_time, energy_wanted_j=wanted)
    world.drain(costs.energy_j)
    stopped = over_cap | depleted  # a stopped node on the route (the learner itself included) loses the update
    blocked = np.stack([from_root(parents[i], depths[i], stopped[i], np.logical_or) for i in range(n_envs)])
    top_outage = np.take_along_axis(outage, np.maximum(tops, 0), axis=1)
    delivered = on_time & ~blocked & ~top_outage
    return Physics(participants=participants, delivered=delivered, stragglers=participants & ~on_time,
                   depleted=depleted, over_cap=over_cap, outage=outage, compute_dropped=compute_dropped,
                   rate_down_bps=rate_down, rate_up_bps=rate_up, costs=costs, topology=report)


def energy_limit_j(scenario: Scenario, world: World) -> np.ndarray:
    """(n_envs, K) what each learner may spend this cycle: min(energy cap, remaining battery), J (inf if neither)."""
    cap_j = scenario.energy.cycle_cap_j
    return np.minimum(np.inf if cap_j is None else cap_j, world.state.battery_j)
