"""Joint task and resource allocation in synchronous MEL (JointAllocation-v0's baselines).

    max tau  s.t. for every learner k with d_k > 0:
        t_k = (S_m + d_k S_d) / R_k^down + tau d_k C_m / f_k + S_m / R_k^up <= T   (deadline; S_d = 0 in FL)
        e_k = kappa f_k^2 tau d_k C_m + P_k S_m / R_k^up <= E_k                    (energy cap and battery)
        R_k^up = W_k log2(1 + P_k g_k / (N0 W_k)),  R_k^down = W_k log2(1 + P_o g_k / (N0 W_k)),
        P_min <= P_k <= P_max,  f_min <= f_k <= f_max,k
    sum_k d_k = d,  0 <= d_k <= cap_k,  sum_k W_k = W_total.

Times and energies are those of :class:`mel_gym.world.costs.CostModel` (the simulator's): the downlink runs at
the orchestrator's power P_o on the learner's band, the uplink at the learner's chosen power P_k.

Method (structured, exact for a given bandwidth split, then refined by SciPy):

1. For fixed tau, bandwidth and power, a learner's deadline allows d <= D_T(f) (increasing in f) and its
   energy d <= D_E(f) (decreasing in f), so the best CPU frequency is f_max if D_T(f_max) <= D_E(f_max), f_min if
   D_E already binds at f_min, and otherwise the crossing D_T(f) = D_E(f), the positive root of the cubic
   a k f^3 - b u f - b v = 0 (Newton's method; exact to float precision).
2. The learner's capacity c_k(tau, W_k) is the best of those over the power P_k: a one-dimensional bounded
   search (golden section on log P over [P_min, P_max], vectorised over learners).
3. tau* is the largest tau with sum_k c_k(tau, W_k) >= d (non-increasing in tau; bisection), tasks d_k = c_k(tau*).
4. Bandwidth: the split starts equal; SciPy's SLSQP then refines every variable (tau, tasks, powers,
   bandwidth shares, CPU frequencies) from that point, and its answer is kept only if it is feasible and
   better. The bandwidth split has no cheap exact solution here (it couples all learners through one
   nested maximisation), and communication is a small part of the cycle in the seed's setting, so a local
   refinement from the exact equal-split optimum is the right trade of speed for optimality.
5. Integer recovery as in HA-Sync: the largest integer tau whose integer capacities (at that tau, with
   power and CPU re-optimised and the bandwidth kept) cover d; samples handed out in proportion.

``task_only`` fixes the resources (full power, equal bandwidth, top CPU) and optimises tasks (HA-Sync with
energy); ``resource_only`` fixes equal tasks and optimises power, bandwidth and CPU, where tau is set by the
learner that reaches the fewest iterations. All functions work on one instance: arrays of length K.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import minimize

from mel_gym.optim.rounding import apportion
from mel_gym.optim.task_sizing import PLAN_DEADLINE_MARGIN, integer_plan, solve_max_tau
from mel_gym.world.costs import CostModel
from mel_gym.world.radio import link_rates_bps

GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0
#: Relative precision of the relaxed joint tau*: it only starts SLSQP and the integer recovery searches on its own.
RELAXED_TAU_RTOL = 1e-7


@dataclass(frozen=True)
class JointInstance:
    """One joint-allocation problem. Arrays (K,); units: W, Hz, J, s, bit, cycles."""

    gain: np.ndarray  # linear channel power gain g_k (the same in both directions)
    f_max_hz: np.ndarray  # each learner's top CPU frequency
    energy_limit_j: np.ndarray  # E_k: min(per-cycle cap, battery); inf where neither
    task_caps: np.ndarray  # most samples learner k can take (local data in FL)
    available: np.ndarray  # bool: learners still in the game
    cost: CostModel  # S_m, S_d, C_m, kappa, T and whether data is sent
    samples_per_cycle: int
    max_local_iterations: int
    tx_power_w: float
    min_tx_power_w: float
    orchestrator_power_w: float  # downlink power P_o
    total_bandwidth_hz: float
    f_min_hz: float
    noise_psd_w_per_hz: float

    @property
    def num_learners(self) -> int:
        return len(self.gain)

    @property
    def cycle_deadline_s(self) -> float:
        return self.cost.cycle_deadline_s

    def equal_bandwidth(self) -> np.ndarray:
        n = max(int(self.available.sum()), 1)
        return np.where(self.available, self.total_bandwidth_hz / n, 0.0)

    def rates(self, bandwidth_hz: np.ndarray, power_w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(downlink, uplink) rates in bit/s on these bands, the uplink at the learners' powers ``power_w``."""
        return link_rates_bps(bandwidth_hz, power_w, self.orchestrator_power_w, self.gain, self.noise_psd_w_per_hz)


@dataclass(frozen=True)
class JointPlan:
    """An allocation: common tau, task sizes and resources per learner."""

    tau: float
    task_sizes: np.ndarray
    power_w: np.ndarray
    bandwidth_hz: np.ndarray
    cpu_hz: np.ndarray


# ------------------------------------------------------------------------------------------------ capacities


def _deadline_energy_terms(inst: JointInstance, tau: float | np.ndarray, bandwidth: np.ndarray, power: np.ndarray,
                           margin: float):
    """(a, b, u, v, k): D_T(f) = a / (u + v / f) and D_E(f) = b / (k f^2), with a or b < 0 meaning infeasible.

    From the cost model's coefficients: a = T - C0, u = C1, v = tau C_m (C2 tau = v / f); b = E - E0 (the
    upload), k f^2 = E1 tau = kappa f^2 C_m tau.
    """
    cost = inst.cost
    rate_down, rate_up = inst.rates(bandwidth, power)
    coeffs = cost.coefficients(rate_down, rate_up, inst.f_max_hz)  # C0, C1 do not depend on f
    upload_j = cost.energy_coefficients(rate_up, power, inst.f_max_hz).fixed_j
    with np.errstate(invalid="ignore"):
        a = inst.cycle_deadline_s * (1.0 - margin) - coeffs.c0
        b = inst.energy_limit_j * (1.0 - margin) - upload_j
    b = np.where(np.isnan(b), -np.inf, b)  # no limit but no uplink either: cannot take part
    v = tau * cost.cycles_per_sample
    k = cost.kappa * tau * cost.cycles_per_sample
    return a, b, coeffs.c1, v, k


def capacity_at(inst: JointInstance, tau: float | np.ndarray, bandwidth: np.ndarray, power: np.ndarray, cpu: np.ndarray,
                margin: float = 0.0) -> np.ndarray:
    """Samples each learner can finish with these resources within its deadline and energy limit."""
    return _capacity(inst, _deadline_energy_terms(inst, tau, bandwidth, power, margin), cpu)


def _capacity(inst: JointInstance, terms: tuple, cpu: np.ndarray) -> np.ndarray:
    a, b, u, v, k = terms
    with np.errstate(divide="ignore", invalid="ignore"):
        d_t = np.where(a > 0, a / (u + v / cpu), 0.0)
        d_e = np.where(b > 0, b / (k * cpu**2), 0.0)
    d_e = np.where(np.isnan(d_e), np.inf, d_e)  # tau = 0 or kappa = 0: energy does not bind
    d = np.minimum(np.nan_to_num(d_t, nan=0.0), d_e)
    return np.where(inst.available, np.minimum(d, inst.task_caps), 0.0)


def best_cpu(inst: JointInstance, tau: float | np.ndarray, bandwidth: np.ndarray, power: np.ndarray,
             margin: float = 0.0) -> np.ndarray:
    """The CPU frequency that maximises each learner's capacity for fixed tau, bandwidth and power.

    ``tau`` may be a scalar or one value per learner (learners are independent here).
    """
    return _best_cpu(inst, _deadline_energy_terms(inst, tau, bandwidth, power, margin))


def _best_cpu(inst: JointInstance, terms: tuple) -> np.ndarray:
    a, b, u, v, k = terms
    f_lo, f_hi = np.minimum(inst.f_min_hz, inst.f_max_hz), inst.f_max_hz.astype(np.float64)
    energy_binds = (a > 0) & (b > 0) & np.isfinite(b) & (k > 0)
    # The crossing D_T(f) = D_E(f) is the positive root of A f^3 - B f - C (A = a k, B = b u, C = b v), below
    # max(sqrt(2B/A), cbrt(2C/A)); Newton's method from above that bound decreases monotonically onto it.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        A, B, C = np.where(energy_binds, a * k, 1.0), np.where(energy_binds, b * u, 0.0), np.where(energy_binds, b * v, 1.0)
        f = np.maximum(np.maximum(np.sqrt(2 * B / A), np.cbrt(2 * C / A)), f_hi)
        for _ in range(60):  # quadratic convergence: a handful of steps once near the root
            step = (A * f**3 - B * f - C) / (3 * A * f**2 - B)
            f = f - step
            if not np.any(np.abs(step) > 1e-12 * f):
                break
    return np.where(energy_binds, np.clip(f, f_lo, f_hi), f_hi)


def best_power_and_cpu(inst: JointInstance, tau: float | np.ndarray, bandwidth: np.ndarray, margin: float = 0.0,
                       iterations: int = 25) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(capacity, power, cpu) maximising each learner's capacity over power (golden section on log P) with
    the best CPU frequency for each power; vectorised over learners."""
    lo = np.full(inst.num_learners, math.log(inst.min_tx_power_w))
    hi = np.full(inst.num_learners, math.log(inst.tx_power_w))

    def value(log_p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        power = np.exp(log_p)
        terms = _deadline_energy_terms(inst, tau, bandwidth, power, margin)
        cpu = _best_cpu(inst, terms)
        return _capacity(inst, terms, cpu), power, cpu

    x1, x2 = hi - GOLDEN * (hi - lo), lo + GOLDEN * (hi - lo)
    v1, v2 = value(x1)[0], value(x2)[0]
    for _ in range(iterations):
        left = v1 >= v2  # the maximum lies in [lo, x2]: x1 becomes the new x2; else x2 becomes the new x1
        hi, lo = np.where(left, x2, hi), np.where(left, lo, x1)
        x_new = np.where(left, hi - GOLDEN * (hi - lo), lo + GOLDEN * (hi - lo))
        v_new = value(x_new)[0]
        x1, x2 = np.where(left, x_new, x2), np.where(left, x1, x_new)
        v1, v2 = np.where(left, v_new, v2), np.where(left, v1, v_new)
    candidates = [value(x) for x in (x1, x2, np.full_like(lo, math.log(inst.tx_power_w)),
                                     np.full_like(lo, math.log(inst.min_tx_power_w)))]
    best = candidates[0]
    for cand in candidates[1:]:
        better = cand[0] > best[0]
        best = tuple(np.where(better, c, b) for c, b in zip(cand, best))
    return best


# ------------------------------------------------------------------------------------------------ solvers


def _plan_at(inst: JointInstance, tau: float, bandwidth: np.ndarray, margin: float = 0.0) -> JointPlan:
    capacity, power, cpu = best_power_and_cpu(inst, tau, bandwidth, margin)
    return JointPlan(tau, capacity, power, bandwidth, cpu)


def solve_joint_relaxed(inst: JointInstance, bandwidth: np.ndarray | None = None) -> JointPlan:
    """Steps 1-3 of the module docstring: the exact relaxed optimum for a given bandwidth split."""
    bandwidth = inst.equal_bandwidth() if bandwidth is None else bandwidth
    covers = lambda tau: best_power_and_cpu(inst, tau, bandwidth)[0].sum() >= inst.samples_per_cycle  # noqa: E731
    tau = min(solve_max_tau(covers, rtol=RELAXED_TAU_RTOL), float(inst.max_local_iterations))
    plan = _plan_at(inst, tau, bandwidth)
    if plan.task_sizes.sum() > 0:
        plan = replace(plan, task_sizes=plan.task_sizes * inst.samples_per_cycle / plan.task_sizes.sum())
    return plan


def _pack(plan: JointPlan, inst: JointInstance, ids: np.ndarray) -> np.ndarray:
    """SLSQP variables: tau, shares, log power, bandwidth shares, CPU (GHz), for learners ``ids``."""
    return np.concatenate([[plan.tau], plan.task_sizes[ids] / inst.samples_per_cycle, np.log(plan.power_w[ids]),
                           plan.bandwidth_hz[ids] / inst.total_bandwidth_hz, plan.cpu_hz[ids] / 1e9])


def _unpack(x: np.ndarray, inst: JointInstance, ids: np.ndarray) -> JointPlan:
    n, K = len(ids), inst.num_learners

    def full(part: np.ndarray, fill: float = 0.0) -> np.ndarray:
        out = np.full(K, fill)
        out[ids] = part
        return out

    return JointPlan(
        tau=float(x[0]), task_sizes=full(x[1 : 1 + n] * inst.samples_per_cycle),
        power_w=full(np.exp(x[1 + n : 1 + 2 * n]), inst.tx_power_w),
        bandwidth_hz=full(x[1 + 2 * n : 1 + 3 * n] * inst.total_bandwidth_hz), cpu_hz=full(x[1 + 3 * n :] * 1e9, 1.0),
    )


def planned_costs(inst: JointInstance, plan: JointPlan) -> tuple[np.ndarray, np.ndarray]:
    """(time s, energy J) per learner that ``plan`` assumes: the cost model's planned values (a learner on a
    dead link takes inf)."""
    rate_down, rate_up = inst.rates(plan.bandwidth_hz, plan.power_w)
    d = plan.task_sizes
    time = inst.cost.coefficients(rate_down, rate_up, plan.cpu_hz).time_s(plan.tau, d)
    energy = inst.cost.energy_coefficients(rate_up, plan.power_w, plan.cpu_hz).energy_j(plan.tau, d)
    return time, energy


def slack(inst: JointInstance, plan: JointPlan, ids: np.ndarray, margin: float = 0.0) -> np.ndarray:
    """Deadline and energy slack of learners ``ids`` (>= 0 when feasible), relative to T and to E_k."""
    time, energy = planned_costs(inst, plan)
    limit = inst.energy_limit_j
    finite = np.isfinite(limit)
    T = inst.cycle_deadline_s
    t_slack = (T * (1 - margin) - np.minimum(time, 1e9 * T)) / T
    scale = np.where(finite & (limit > 0), limit, 1.0)  # relative to the limit; absolute J for an empty battery
    e_slack = np.where(finite, (limit * (1 - margin) - np.minimum(energy, 1e9 * scale)) / scale, 1.0)
    return np.concatenate([t_slack[ids], e_slack[ids]])


def refine_slsqp(inst: JointInstance, start: JointPlan, optimise_tasks: bool = True, iterations: int = 200) -> JointPlan:
    """SciPy SLSQP over all variables of the participating learners, from ``start``; returns ``start``
    unless SLSQP ends at a feasible point with a larger tau."""
    ids = np.flatnonzero(start.task_sizes > 0)
    if ids.size == 0:
        return start
    n = ids.size
    x0 = _pack(start, inst, ids)
    f_lo = np.minimum(inst.f_min_hz, inst.f_max_hz[ids]) / 1e9
    bounds = ([(0.0, float(inst.max_local_iterations))] + [(0.0, 1.0)] * n
              + [(math.log(inst.min_tx_power_w), math.log(inst.tx_power_w))] * n + [(1e-6, 1.0)] * n
              + list(zip(f_lo, inst.f_max_hz[ids] / 1e9)))
    cons = [{"type": "ineq", "fun": lambda x: slack(inst, _unpack(x, inst, ids), ids)},
            {"type": "ineq", "fun": lambda x: 1.0 - x[1 + 2 * n : 1 + 3 * n].sum()}]
    if optimise_tasks:
        cons.append({"type": "eq", "fun": lambda x: x[1 : 1 + n].sum() - 1.0})
        caps = inst.task_caps[ids] / inst.samples_per_cycle
        bounds[1 : 1 + n] = [(0.0, float(min(1.0, c))) for c in caps]
    else:
        bounds[1 : 1 + n] = [(float(v), float(v)) for v in x0[1 : 1 + n]]
    res = minimize(lambda x: -x[0], x0, method="SLSQP", bounds=bounds, constraints=cons,
                   options={"maxiter": iterations, "ftol": 1e-10})
    plan = _unpack(res.x, inst, ids)
    feasible = (slack(inst, plan, ids).min() >= -1e-7 and plan.bandwidth_hz.sum() <= inst.total_bandwidth_hz * (1 + 1e-7)
                and (not optimise_tasks or abs(plan.task_sizes.sum() - inst.samples_per_cycle) <= 1e-6 * inst.samples_per_cycle))
    return plan if feasible and plan.tau > start.tau else start


def integer_joint_plan(inst: JointInstance, relaxed: JointPlan) -> JointPlan:
    """Step 5: integer tau and task sizes, resources re-optimised per integer tau, bandwidth kept."""
    margin = PLAN_DEADLINE_MARGIN

    def capacity(tau: int) -> np.ndarray:
        return np.floor(best_power_and_cpu(inst, tau, relaxed.bandwidth_hz, margin)[0]).astype(np.int64)

    tau, task_sizes = integer_plan(capacity, inst.samples_per_cycle, inst.max_local_iterations)
    tau_eval = max(tau, 1)
    _, power, cpu = best_power_and_cpu(inst, tau_eval, relaxed.bandwidth_hz, margin)
    return JointPlan(tau, task_sizes, power, relaxed.bandwidth_hz, cpu)


def solve_joint(inst: JointInstance, refine: bool = True) -> JointPlan:
    """Joint: tasks and resources together (module docstring, steps 1-5)."""
    relaxed = solve_joint_relaxed(inst)
    if refine:
        relaxed = refine_slsqp(inst, relaxed)
    return integer_joint_plan(inst, relaxed)


def solve_task_only(inst: JointInstance) -> JointPlan:
    """Tasks optimised with fixed resources: full power, equal bandwidth, top CPU (HA-Sync with energy)."""
    bandwidth = inst.equal_bandwidth()
    power = np.full(inst.num_learners, inst.tx_power_w)
    cpu = inst.f_max_hz.astype(np.float64)
    capacity = lambda tau: np.floor(capacity_at(inst, tau, bandwidth, power, cpu, PLAN_DEADLINE_MARGIN)).astype(np.int64)  # noqa: E731
    tau, task_sizes = integer_plan(capacity, inst.samples_per_cycle, inst.max_local_iterations)
    return JointPlan(tau, task_sizes, power, bandwidth, cpu)


def equal_tasks(inst: JointInstance) -> np.ndarray:
    """d / K to every available learner (capped at its task cap), as integers."""
    shares = inst.available / max(int(inst.available.sum()), 1)
    return np.minimum(apportion(shares, inst.samples_per_cycle), inst.task_caps).astype(np.int64)


def _max_tau_for_tasks(inst: JointInstance, task_sizes: np.ndarray, bandwidth: np.ndarray, margin: float) -> np.ndarray:
    """Per learner, the largest (real) tau <= max_local_iterations at which the best power and CPU still fit its task
    (bisection, all learners at once); inf for learners without a task, 0 where even tau = 0 does not fit."""
    fits = lambda tau: best_power_and_cpu(inst, tau, bandwidth, margin, iterations=20)[0] >= task_sizes  # noqa: E731
    lo, hi = np.zeros(inst.num_learners), np.full(inst.num_learners, float(inst.max_local_iterations))
    top = fits(hi)
    for _ in range(30):
        mid = (lo + hi) / 2
        ok = fits(mid)
        lo, hi = np.where(ok, mid, lo), np.where(ok, hi, mid)
    return np.where(task_sizes > 0, np.where(top, float(inst.max_local_iterations), lo), np.inf)


def solve_resource_only(inst: JointInstance, refine: bool = True) -> JointPlan:
    """Equal tasks; power, bandwidth and CPU optimised: tau = the fewest iterations any learner reaches."""
    task_sizes = equal_tasks(inst)
    bandwidth = inst.equal_bandwidth()
    tau_real = float(_max_tau_for_tasks(inst, task_sizes, bandwidth, 0.0).min())
    tau_real = tau_real if math.isfinite(tau_real) else float(inst.max_local_iterations)
    _, power, cpu = best_power_and_cpu(inst, max(tau_real, 1e-9), bandwidth)
    relaxed = JointPlan(tau_real, task_sizes.astype(np.float64), power, bandwidth, cpu)
    if refine:
        relaxed = refine_slsqp(inst, relaxed, optimise_tasks=False)
    for tau in range(int(min(inst.max_local_iterations, math.floor(relaxed.tau + 1e-9))), 0, -1):
        capacity, power, cpu = best_power_and_cpu(inst, tau, relaxed.bandwidth_hz, PLAN_DEADLINE_MARGIN)
        if np.all(capacity >= task_sizes):
            return JointPlan(tau, task_sizes, power, relaxed.bandwidth_hz, cpu)
    _, power, cpu = best_power_and_cpu(inst, 1, relaxed.bandwidth_hz, PLAN_DEADLINE_MARGIN)
    return JointPlan(0, task_sizes, power, relaxed.bandwidth_hz, cpu)
