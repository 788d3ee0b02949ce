"""Time and energy of one global cycle: the one place they are defined (docs/model.md §1, §2).

Learner k with a task of d_k samples and tau_k local iterations, rates R_k^down (orchestrator -> learner, at
the orchestrator's power) and R_k^up (learner -> orchestrator, at the learner's power P_k), CPU f_k:

    t_send    = (S_m + d_k S_d) / R_down        (PL; FL sends no data: S_d term 0)
    t_compute = tau_k d_k C_m / f_k
    t_return  = S_m / R_up
    e_compute = kappa f_k^2 tau_k d_k C_m       (J)
    e_return  = P_k t_return                     (J)

The planning view (what a solver or the env's feasibility layer assumes) is the compact form
t_k = C2 tau d + C1 d + C0 (:class:`CycleCoefficients`) and e_k = E0 + E1 tau d (:class:`EnergyCoefficients`).
The simulator charges what a learner actually spends (:meth:`CostModel.spent`): the cycle ends at T, so a
learner computes at most T - t_send, uploads only once its computation is done and stops at T. A learner
that finishes in time spends exactly the planned amounts. Arrays are (n_envs, K) or any broadcastable shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

#: Relative slack on the deadline and energy limits so that float rounding never turns an exact fit into a miss.
DEADLINE_RTOL = 1e-9


def _same_shape(*arrays: np.ndarray) -> list[np.ndarray]:
    """The arrays broadcast to one shape (copies only where a shape differs)."""
    shape = np.broadcast_shapes(*(np.shape(a) for a in arrays))
    return [a if np.shape(a) == shape else np.broadcast_to(a, shape).copy() for a in arrays]


def _inverse(rate_bps: np.ndarray) -> np.ndarray:
    """1 / R, inf where the rate is 0 (a link that carries nothing)."""
    rate = np.asarray(rate_bps, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.where(rate > 0, 1.0 / np.maximum(rate, 1e-300), np.inf)


@dataclass(frozen=True)
class CycleCoefficients:
    """Planned time t_k = c2 tau d_k + c1 d_k + c0 of each learner; arrays (..., K).

    c0: s to exchange the model (S_m / R_down + S_m / R_up); c1: s per sample sent (S_d / R_down in PL, 0 in
    FL); c2: s per sample and local iteration (C_m / f).
    """

    c0: np.ndarray
    c1: np.ndarray
    c2: np.ndarray

    def __getitem__(self, index: Any) -> "CycleCoefficients":
        """The coefficients of some envs, e.g. ``coeffs[i]`` for env i's learners."""
        return CycleCoefficients(self.c0[index], self.c1[index], self.c2[index])

    def time_s(self, iterations: np.ndarray, task_sizes: np.ndarray) -> np.ndarray:
        """Planned t_k for ``iterations`` (tau) and ``task_sizes`` (d_k); a learner with d_k = 0 takes 0 s."""
        d = np.asarray(task_sizes, dtype=np.float64)
        with np.errstate(invalid="ignore"):
            t = self.c2 * iterations * d + self.c1 * d + self.c0
        return np.where(d > 0, t, 0.0)


@dataclass(frozen=True)
class EnergyCoefficients:
    """Planned energy e_k = fixed_j + per_sample_iteration_j tau d_k of each learner; arrays (..., K), J.

    fixed_j: the upload P S_m / R_up (inf on a dead link); per_sample_iteration_j: kappa f^2 C_m.
    """

    fixed_j: np.ndarray
    per_sample_iteration_j: np.ndarray

    def __getitem__(self, index: Any) -> "EnergyCoefficients":
        return EnergyCoefficients(self.fixed_j[index], self.per_sample_iteration_j[index])

    def energy_j(self, iterations: np.ndarray, task_sizes: np.ndarray) -> np.ndarray:
        d = np.asarray(task_sizes, dtype=np.float64)
        with np.errstate(invalid="ignore"):
            e = self.fixed_j + self.per_sample_iteration_j * iterations * d
        return np.where(d > 0, e, 0.0)

    def max_samples(self, limit_j: np.ndarray, tau: float | np.ndarray, margin: float = 0.0) -> np.ndarray:
        """The most samples each learner can afford at ``tau`` iterations within ``limit_j`` (inf where energy
        does not bind: no limit, tau = 0 or no compute energy; 0 where not even the upload fits)."""
        budget = limit_j * (1.0 - margin) - self.fixed_j
        with np.errstate(divide="ignore", invalid="ignore"):
            d = np.where(budget >= 0, budget / (self.per_sample_iteration_j * tau), 0.0)
        return np.where(np.isnan(d), np.inf, d)


@dataclass(frozen=True)
class EnergyBudget:
    """The energy side of a cycle, arrays (K,): what each learner may spend (J) and its planned energy."""

    limit_j: np.ndarray
    coefficients: EnergyCoefficients

    def __getitem__(self, index: Any) -> "EnergyBudget":
        """The budget of some envs, e.g. ``budget[i]`` for env i's learners."""
        return EnergyBudget(self.limit_j[index], self.coefficients[index])

    def max_samples(self, tau: float, margin: float = 0.0) -> np.ndarray:
        """The most samples each learner can afford at ``tau`` iterations (inf where energy does not bind)."""
        return self.coefficients.max_samples(self.limit_j, tau, margin)


@dataclass(frozen=True)
class CycleCosts:
    """What each learner spent in a cycle (s, J; arrays (n_envs, K)), all finite and within the cycle."""

    time_send_s: np.ndarray
    time_compute_s: np.ndarray
    time_return_s: np.ndarray
    energy_compute_j: np.ndarray
    energy_transmit_j: np.ndarray
    in_time: np.ndarray  # bool: took part and the whole exchange fits in T
    energy_wanted_j: np.ndarray  # what the learner would have spent by T without an energy limit

    @property
    def time_s(self) -> np.ndarray:
        return self.time_send_s + self.time_compute_s + self.time_return_s

    @property
    def energy_j(self) -> np.ndarray:
        return self.energy_compute_j + self.energy_transmit_j


@dataclass(frozen=True)
class CostModel:
    """The constants of a cycle's time and energy. Units: bit, cycles, J/(cycle Hz^2), s.

    Attributes:
        model_bits: S_m, the model's size.
        sample_bits: S_d, the size of one sample sent in PL.
        sends_data: PL (the orchestrator sends d_k samples with the model) or FL (data stays local).
        cycles_per_sample: C_m, CPU cycles per sample and local iteration.
        kappa: effective switched capacitance of the compute energy.
        cycle_deadline_s: T.
    """

    model_bits: float
    sample_bits: float
    sends_data: bool
    cycles_per_sample: float
    kappa: float
    cycle_deadline_s: float

    def coefficients(self, rate_down_bps: np.ndarray, rate_up_bps: np.ndarray, cpu_hz: np.ndarray) -> CycleCoefficients:
        """Planned-time coefficients from the link rates (bit/s) and CPU frequencies (Hz)."""
        inv_down, inv_up = _inverse(rate_down_bps), _inverse(rate_up_bps)
        c0 = self.model_bits * (inv_down + inv_up)
        c1 = self.sample_bits * inv_down if self.sends_data else np.zeros_like(c0)
        with np.errstate(divide="ignore"):  # a frozen CPU (0 Hz) never finishes: inf s per sample
            c2 = self.cycles_per_sample / np.asarray(cpu_hz, dtype=np.float64)
        return CycleCoefficients(*_same_shape(c0, c1, c2))

    def energy_coefficients(self, rate_up_bps: np.ndarray, tx_power_w: np.ndarray | float,
                            cpu_hz: np.ndarray) -> EnergyCoefficients:
        """Planned-energy coefficients from the uplink rate (bit/s), the learner's power (W) and CPU (Hz)."""
        with np.errstate(invalid="ignore"):  # zero power on a dead link: it cannot upload at all
            fixed = np.asarray(tx_power_w * self.model_bits * _inverse(rate_up_bps), dtype=np.float64)
        fixed = np.where(np.isnan(fixed), np.inf, fixed)
        per = self.kappa * np.square(np.asarray(cpu_hz, dtype=np.float64)) * self.cycles_per_sample
        return EnergyCoefficients(*_same_shape(fixed, per))

    def compute_time_s(self, task_sizes: np.ndarray, iterations: np.ndarray, cpu_hz: np.ndarray) -> np.ndarray:
        """tau d_k C_m / f_k, s: the local computation (0 without work, inf on a frozen CPU)."""
        d = np.asarray(task_sizes, dtype=np.float64)
        work = np.asarray(iterations, dtype=np.float64) * d * self.cycles_per_sample
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where((d > 0) & (work > 0), work / np.asarray(cpu_hz, dtype=np.float64), 0.0)

    @staticmethod
    def compute_power_w(cpu_hz: np.ndarray, kappa: float) -> np.ndarray:
        """kappa f^3, W: computing draws kappa f^2 J per cycle at f cycles per second."""
        return kappa * np.asarray(cpu_hz, dtype=np.float64) ** 3

    def spent(self, task_sizes: np.ndarray, iterations: np.ndarray, rate_down_bps: np.ndarray,
              rate_up_bps: np.ndarray, tx_power_w: np.ndarray | float, cpu_hz: np.ndarray,
              energy_limit_j: np.ndarray | None = None) -> CycleCosts:
        """Times and energies each learner actually spends this cycle (see the module docstring).

        Learners without a task spend nothing. The phases run one after the other and stop at T: receiving
        takes min(t_send, T); computing min(t_compute, T - receive); the upload starts only when the
        computation is done and lasts min(t_return, what is left of T). Compute energy is paid for the cycles
        actually run, transmit energy for the upload time actually spent.

        With ``energy_limit_j`` (J per learner: the per-cycle cap, the battery left), a learner also stops when it
        has spent its limit: computing draws kappa f^3 W, uploading P W (receiving is free), so it stops during
        its computation or during its upload, and its times and energies end there. ``energy_wanted_j`` keeps
        what it would have spent by T without the limit.
        """
        d = np.asarray(task_sizes, dtype=np.float64)
        tau = np.asarray(iterations, dtype=np.float64)
        takes_part = d > 0
        T = self.cycle_deadline_s
        inv_down, inv_up = _inverse(rate_down_bps), _inverse(rate_up_bps)
        send_bits = self.model_bits + (d * self.sample_bits if self.sends_data else 0.0)
        cpu = np.asarray(cpu_hz, dtype=np.float64)
        need_compute = self.compute_time_s(d, tau, cpu)
        with np.errstate(invalid="ignore", divide="ignore"):  # 0 bits x inf s/bit where nobody sends
            need_send = np.where(takes_part, send_bits * inv_down, 0.0)
            need_return = np.where(takes_part, self.model_bits * inv_up, 0.0)
        in_time = takes_part & (need_send + need_compute + need_return <= T * (1.0 + DEADLINE_RTOL))
        send = np.minimum(need_send, T)
        compute = np.minimum(need_compute, T - send)
        computed_all = need_compute <= T - send
        upload = np.where(computed_all, np.minimum(need_return, np.maximum(T - send - compute, 0.0)), 0.0)
        upload = np.where(in_time, need_return, upload)  # within the rounding slack the upload completes
        compute = np.where(in_time, need_compute, compute)
        send = np.where(in_time, need_send, send)
        compute_w = self.compute_power_w(cpu, self.kappa)
        power = np.broadcast_to(np.asarray(tx_power_w, dtype=np.float64), d.shape)
        e_compute, e_transmit = compute_w * compute, power * upload
        wanted = e_compute + e_transmit
        if energy_limit_j is not None:
            limit = np.asarray(energy_limit_j, dtype=np.float64)
            stop = wanted > limit * (1.0 + DEADLINE_RTOL)
            during_compute = stop & (e_compute >= limit)
            with np.errstate(divide="ignore", invalid="ignore"):
                compute = np.where(during_compute, np.where(compute_w > 0, limit / compute_w, compute), compute)
                upload = np.where(during_compute, 0.0,
                                  np.where(stop, np.where(power > 0, (limit - e_compute) / power, upload), upload))
            e_compute = np.where(during_compute, limit, e_compute)
            e_transmit = np.where(during_compute, 0.0, np.where(stop, limit - e_compute, e_transmit))
        return CycleCosts(time_send_s=send, time_compute_s=compute, time_return_s=upload, energy_compute_j=e_compute,
                          energy_transmit_j=e_transmit, in_time=in_time, energy_wanted_j=wanted)


def feasible_iterations(
    coeffs: CycleCoefficients,
    task_sizes: np.ndarray,
    cycle_deadline_s: float,
    max_local_iterations: int,
    energy: EnergyBudget | None = None,
) -> np.ndarray:
    """Largest tau_k (0..max_local_iterations) each learner with d_k > 0 can run; shape (..., K), int.

    Deadline: tau_k <= (T - C0_k - C1_k d_k) / (C2_k d_k). Energy, with a budget: E0_k + E1_k tau_k d_k <= limit_k.
    A learner that cannot even exchange its model and data in time, or whose upload alone exceeds its energy
    limit, gets -1; a learner without a task gets ``max_local_iterations``.
    """
    d = np.asarray(task_sizes, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):  # a learner without task or bandwidth: inf x 0
        budget = cycle_deadline_s * (1.0 + DEADLINE_RTOL) - coeffs.c0 - coeffs.c1 * d
        tau = np.floor(budget / (coeffs.c2 * np.maximum(d, 1.0)))
        infeasible = ~(budget >= 0)
        if energy is not None:
            e_budget = energy.limit_j * (1.0 + DEADLINE_RTOL) - energy.coefficients.fixed_j
            per_iteration = energy.coefficients.per_sample_iteration_j * d
            tau_e = np.where(per_iteration > 0, np.floor(e_budget / per_iteration), np.inf)
            tau = np.minimum(tau, tau_e)
            infeasible |= ~(e_budget >= 0)
    tau = np.clip(np.nan_to_num(tau, nan=-1.0, posinf=max_local_iterations), 0, max_local_iterations)
    tau = np.where(infeasible, -1, tau)
    return np.where(d > 0, tau, max_local_iterations).astype(np.int64)


def feasible_sync_iterations(coeffs: CycleCoefficients, task_sizes: np.ndarray, cycle_deadline_s: float,
                             max_local_iterations: int, energy: EnergyBudget | None = None) -> np.ndarray:
    """Largest common tau (0..max_local_iterations) such that every learner with d_k > 0 meets the deadline (and
    its energy limit); shape (...,). 0 if any participant cannot even exchange its model and data in time;
    ``max_local_iterations`` if nobody takes part."""
    per_learner = feasible_iterations(coeffs, task_sizes, cycle_deadline_s, max_local_iterations, energy)
    return np.maximum(per_learner.min(axis=-1), 0).astype(np.int64)
