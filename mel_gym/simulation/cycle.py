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
from mel_gym.world.costs import DEADLINE_RTOL, CostModel, CycleCosts
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


def energy_limit_j(scenario: Scenario, world: World) -> np.ndarray:
    """(n_envs, K) what each learner may spend this cycle: min(energy cap, remaining battery), J (inf if neither)."""
    cap_j = scenario.energy.cycle_cap_j
    return np.minimum(np.inf if cap_j is None else cap_j, world.state.battery_j)
