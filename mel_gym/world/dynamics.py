"""Random processes of the MEL world: time-correlated fading and shadowing, packet errors, mobility and the
learners' computing-service states.

Every function works on one env's K learners at a time (arrays of shape (K,) or (K, 2)), is pure (inputs are never
modified) and takes every random number from the ``np.random.Generator`` passed in.

Models, formulas and sources:

* Small-scale fading, Clarke/Jakes correlation (Jakes, "Microwave Mobile Communications", 1974): the complex gain's
  correlation over an interval dt is rho = J0(2 pi f_D dt), Doppler f_D = max(v f_c / c, f_min): a floor f_min
  (default 0) stands for the Doppler that moving scatterers give even a terminal at rest.
* Rayleigh fading as a first-order Gauss-Markov process (e.g. Baddour & Beaulieu, IEEE TWC 2005):
  h' = rho h + sqrt(1 - rho^2) w, w ~ CN(0, 1); h stays CN(0, 1), so |h|^2 ~ Exp(1), and
  corr(|h_t|^2, |h_{t+1}|^2) = rho^2. Given h, |h'|^2 is (1 - rho^2) / 2 times a noncentral chi-square with 2 degrees
  of freedom and noncentrality 2 rho^2 |h|^2 / (1 - rho^2) (the squared magnitude of a complex Gaussian of mean
  rho h and variance 1 - rho^2: a Rician power); its quantiles are what link adaptation schedules on.
* Log-normal shadowing with Gudmundson's exponential spatial correlation (Electronics Letters 27(23), 1991):
  a = exp(-|moved| / d_corr) and s' = a s + sqrt(1 - a^2) sigma n, n ~ N(0, 1) (AR(1), stationary N(0, sigma^2)).
* Packet error probability over Rayleigh fading (Chen et al., "A joint learning and communications framework for
  federated learning over wireless networks", IEEE TWC 2021): q = 1 - exp(-m W N0 / (P gbar)) = 1 - exp(-m / SNRbar),
  m the waterfall threshold (1.08 in their code). It is P(SNRbar |h|^2 < m) for |h|^2 ~ Exp(1): the error
  probability averaged over the Rayleigh fading, so SNRbar is the link's mean SNR, whose gain gbar is the large-scale
  one (path loss and shadowing, no small-scale fading).
* Random waypoint mobility in a disc (Bettstetter, Hartenstein & Perez-Costa, "Stochastic properties of the random
  waypoint mobility model", Wireless Networks 2004): waypoints uniform in the disc, speed U[v_min, v_max] per leg,
  pause ``pause_s`` at each waypoint; v_min > 0 avoids the speed decay of Yoon, Liu & Noble (INFOCOM 2003).
  The stationary regime is approached by a burn-in run; an interval longer than
  :data:`RWP_STATIONARY_AFTER_LEGS` legs of the fastest learner is replaced by an exact draw from the stationary
  regime (perfect simulation: Le Boudec & Vojnovic, "Perfect simulation and stationarity of a class of mobility
  models", INFOCOM 2005), so its cost does not grow with the interval.
* Gauss-Markov mobility (Liang & Haas, "Predictive distance-based mobility management for PCS networks",
  INFOCOM 1999), per axis: v' = alpha v + (1 - alpha) vbar + sqrt(1 - alpha^2) sigma w, w ~ N(0, I2); reflected
  radially at the disc's boundary.
* Computing service as a discrete-time Markov chain over the states 0 = available, 1 = throttled, 2 = frozen, with
  a row-stochastic transition matrix P; its stationary distribution solves pi P = pi, sum(pi) = 1.
"""

from __future__ import annotations

import numpy as np
from scipy.special import j0, ndtri
from scipy.stats import ncx2

from mel_gym.world.radio import SPEED_OF_LIGHT_M_PER_S

__all__ = [
    "SPEED_OF_LIGHT_M_PER_S",
    "AVAILABLE",
    "THROTTLED",
    "FROZEN",
    "jakes_correlation",
    "draw_complex_gain",
    "evolve_fading",
    "fading_power_quantile",
    "shadowing_correlation",
    "evolve_shadowing",
    "packet_error_probability",
    "uniform_in_disc",
    "RWP_STATIONARY_AFTER_LEGS",
    "mean_leg_length_m",
    "mean_leg_time_s",
    "random_waypoint_init",
    "random_waypoint_stationary",
    "random_waypoint_step",
    "gauss_markov_init",
    "gauss_markov_step",
    "markov_step",
    "stationary_distribution",
    "draw_stationary",
]

#: Computing-service states of a learner.
AVAILABLE, THROTTLED, FROZEN = 0, 1, 2


# --------------------------------------------------------------------------------------------------------------------
# Fading and shadowing
# --------------------------------------------------------------------------------------------------------------------


def jakes_correlation(speed_mps: np.ndarray | float, carrier_hz: np.ndarray | float,
                      interval_s: np.ndarray | float, min_doppler_hz: float = 0.0) -> np.ndarray:
    """Clarke/Jakes correlation of the complex channel gain over ``interval_s`` seconds: rho = J0(2 pi f_D dt),
    f_D = max(v f_c / c, f_min) (Hz) for speed v (m/s), carrier f_c (Hz) and the Doppler floor
    f_min = ``min_doppler_hz`` (Hz, >= 0: what moving scatterers give a terminal at rest; docs/dynamics.md §3).
    Elementwise (broadcast); speed 0 gives 1 when f_min = 0 (bit for bit the formula without a floor).
    The result lies in [-0.403, 1] (J0's range on [0, inf))."""
    speed = np.asarray(speed_mps, dtype=np.float64)
    doppler_hz = np.abs(speed) * np.asarray(carrier_hz, dtype=np.float64) / SPEED_OF_LIGHT_M_PER_S
    if min_doppler_hz > 0.0:
        doppler_hz = np.maximum(doppler_hz, float(min_doppler_hz))
    return np.asarray(j0(2.0 * np.pi * doppler_hz * np.asarray(interval_s, dtype=np.float64)), dtype=np.float64)


def draw_complex_gain(rng: np.random.Generator, size: int | tuple[int, ...]) -> np.ndarray:
    """``size`` samples of CN(0, 1) (complex128): (x + i y) / sqrt(2), x, y ~ N(0, 1), so |h|^2 ~ Exp(1).
    Draws the real parts, then the imaginary parts."""
    real = rng.standard_normal(size)
    imag = rng.standard_normal(size)
    return (real + 1j * imag) / np.sqrt(2.0)


def evolve_fading(rng: np.random.Generator, gain: np.ndarray, rho: np.ndarray | float) -> np.ndarray:
    """One Gauss-Markov step of the complex gains ``gain`` (complex, any shape, e.g. (K,)):
    h' = rho h + sqrt(1 - rho^2) w with w = draw_complex_gain(rng, gain.shape). ``rho`` broadcasts against
    ``gain`` (array or scalar, |rho| <= 1, may be negative); CN(0, 1) stays the stationary law."""
    gain = np.asarray(gain)
    rho = np.asarray(rho, dtype=np.float64)
    innovation = draw_complex_gain(rng, gain.shape)
    return rho * gain + np.sqrt(np.maximum(1.0 - rho * rho, 0.0)) * innovation


#: Above this noncentrality :func:`fading_power_quantile` uses the normal approximation of the noncentral
#: chi-square (relative error below 2e-6 there, smaller beyond); scipy's exact inverse gets slow above it and
#: returns NaN beyond about 1e11.
NCX2_EXACT_MAX_NONCENTRALITY = 1e4


def fading_power_quantile(probability: float, gain: np.ndarray, rho: np.ndarray | float) -> np.ndarray:
    """The ``probability``-quantile of the coming fading power |h'|^2 given the current complex gain h = ``gain``
    and one Gauss-Markov step h' = rho h + sqrt(1 - rho^2) w, w ~ CN(0, 1) (:func:`evolve_fading`).

    Given h, 2 |h'|^2 / (1 - rho^2) is noncentral chi-square with 2 degrees of freedom and noncentrality
    nc = 2 rho^2 |h|^2 / (1 - rho^2), so the quantile is (1 - rho^2) / 2 x F^-1(p; 2, nc) (``scipy.stats.ncx2``).
    rho = 0 gives -ln(1 - p) (|h'|^2 ~ Exp(1)); |rho| = 1 gives |h|^2. Above nc = :data:`NCX2_EXACT_MAX_NONCENTRALITY`
    (rho close to 1) the Rician power is close to normal in |h'|: F^-1 ~ (sqrt(nc) + z_p)^2 + 1, z_p the standard
    normal quantile, i.e. |rho h|^2 + 2 |rho h| s z_p + s^2 (z_p^2 + 1), s^2 = (1 - rho^2) / 2, which is exact at
    |rho| = 1. Elementwise: ``gain`` (complex, any shape, e.g. (n_envs, K)) and ``rho`` (|rho| <= 1) broadcast;
    returns float64 of their broadcast shape (dimensionless power, like |h|^2). Draws nothing."""
    if not 0.0 < probability < 1.0:
        raise ValueError(f"the quantile's probability must lie in (0, 1), got {probability}")
    rho = np.asarray(rho, dtype=np.float64)
    mean_power = np.abs(rho * np.asarray(gain)) ** 2  # |rho h|^2: the coming power's line-of-sight-like part
    spread = np.maximum(1.0 - rho * rho, 0.0)  # 1 - rho^2: the innovation's power
    mean_power, spread = np.broadcast_arrays(mean_power, spread)
    with np.errstate(divide="ignore", invalid="ignore"):
        noncentrality = np.where(spread > 0.0, 2.0 * mean_power / spread, np.inf)
    exact = noncentrality <= NCX2_EXACT_MAX_NONCENTRALITY
    quantile = np.empty(mean_power.shape)
    if exact.any():
        quantile[exact] = 0.5 * spread[exact] * ncx2.ppf(probability, 2.0, noncentrality[exact])
    near = ~exact
    if near.any():
        z, half = float(ndtri(probability)), 0.5 * spread[near]
        quantile[near] = (mean_power[near] + 2.0 * np.sqrt(mean_power[near] * half) * z + half * (z * z + 1.0))
    return quantile


def shadowing_correlation(moved_m: np.ndarray | float, decorrelation_m: np.ndarray | float) -> np.ndarray:
    """Gudmundson's correlation of shadowing between two points ``moved_m`` metres apart: exp(-|moved| / d_corr).
    Not moving gives 1 (also for d_corr = 0); d_corr = inf gives 1; d_corr = 0 and a move gives 0."""
    moved = np.abs(np.asarray(moved_m, dtype=np.float64))
    decorrelation = np.asarray(decorrelation_m, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = np.exp(-moved / decorrelation)
    return np.where(moved == 0.0, 1.0, np.nan_to_num(corr, nan=0.0))


def evolve_shadowing(rng: np.random.Generator, shadowing_db: np.ndarray, moved_m: np.ndarray | float,
                     decorrelation_m: np.ndarray | float, std_db: float) -> np.ndarray:
    """AR(1) shadowing update in dB for learners that moved ``moved_m`` metres: s' = a s + sqrt(1 - a^2) sigma n,
    a = shadowing_correlation(moved_m, decorrelation_m), sigma = ``std_db``, n ~ N(0, 1). Shape of
    ``shadowing_db`` (e.g. (K,)); one normal is drawn per learner even where a = 1, so the number of draws never
    depends on the state. N(0, sigma^2) is the stationary law."""
    shadowing_db = np.asarray(shadowing_db, dtype=np.float64)
    noise = rng.standard_normal(shadowing_db.shape)
    corr = shadowing_correlation(moved_m, decorrelation_m)
    return corr * shadowing_db + np.sqrt(np.maximum(1.0 - corr * corr, 0.0)) * std_db * noise


def packet_error_probability(snr: np.ndarray | float, threshold: float) -> np.ndarray:
    """Packet error probability averaged over Rayleigh fading, q = 1 - exp(-m / SNRbar) (Chen et al., IEEE TWC
    2021), for the linear **mean** SNR ``snr`` (any shape: P gbar / (N0 W), gbar the large-scale gain without the
    small-scale fading, which q already averages over) and waterfall threshold m = ``threshold``. SNR <= 0 (or NaN)
    gives 1; SNR = inf gives 0. No floating-point warnings."""
    snr = np.asarray(snr, dtype=np.float64)
    positive = snr > 0.0
    safe = np.where(positive, snr, 1.0)
    return np.where(positive, -np.expm1(-threshold / safe), 1.0)


# --------------------------------------------------------------------------------------------------------------------
# Mobility
# --------------------------------------------------------------------------------------------------------------------


def uniform_in_disc(rng: np.random.Generator, size: int, radius_m: float) -> np.ndarray:
    """``size`` points uniform in area on the disc of radius ``radius_m`` (m) about the origin: r = R sqrt(u),
    angle 2 pi u'. Shape (size, 2), metres. One (size, 2) block of uniforms is drawn."""
    u = rng.random((size, 2))
    radius = radius_m * np.sqrt(u[:, 0])
    angle = 2.0 * np.pi * u[:, 1]
    return np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=-1)


def _unit_vectors(delta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors along the rows of ``delta`` (N, 2) (zero rows stay zero) and the rows' norms (N,)."""
    norm = np.hypot(delta[:, 0], delta[:, 1])
    safe = np.where(norm > 0.0, norm, 1.0)
    return delta / safe[:, None], norm


def random_waypoint_init(rng: np.random.Generator, num: int, area_radius_m: float, speed_min_mps: float,
                         speed_max_mps: float, pause_s: float,
                         burn_in_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Random waypoint state of ``num`` learners in the disc of radius ``area_radius_m`` (m).

    Positions, then waypoints, are drawn uniform in the disc and speeds U[speed_min_mps, speed_max_mps] (m/s), with
    no pause; then :func:`random_waypoint_step` runs for ``burn_in_s`` seconds (one call) so that the returned state
    is close to the model's stationary regime (denser in the centre than uniform). A burn-in longer than
    :data:`RWP_STATIONARY_AFTER_LEGS` legs of the fastest learner is an exact draw from that regime instead
    (:func:`random_waypoint_step`), so the cost never grows with ``burn_in_s``.

    Returns (position_m (num, 2), velocity_mps (num, 2), waypoint_m (num, 2), pause_left_s (num,)).
    """
    _check_speeds(speed_min_mps, speed_max_mps)
    position = uniform_in_disc(rng, num, area_radius_m)
    waypoint = uniform_in_disc(rng, num, area_radius_m)
    speed = rng.uniform(speed_min_mps, speed_max_mps, size=num)
    direction, _ = _unit_vectors(waypoint - position)
    velocity = speed[:, None] * direction
    pause_left = np.zeros(num)
    if burn_in_s > 0.0:
        return random_waypoint_step(rng, position, velocity, waypoint, pause_left, burn_in_s, area_radius_m,
                                    speed_min_mps, speed_max_mps, pause_s)
    return position, velocity, waypoint, pause_left


def random_waypoint_step(rng: np.random.Generator, position_m: np.ndarray, velocity_mps: np.ndarray,
                         waypoint_m: np.ndarray, pause_left_s: np.ndarray, interval_s: float, area_radius_m: float,
                         speed_min_mps: float, speed_max_mps: float,
                         pause_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Advance ``K`` random-waypoint learners by ``interval_s`` seconds of continuous time.

    Each learner first spends its remaining pause (``pause_left_s`` (K,), s), then travels in a straight line toward
    its waypoint (``waypoint_m`` (K, 2), m) at its speed |v| (``velocity_mps`` (K, 2), m/s; the direction is always
    re-aimed at the waypoint); on arrival it pauses ``pause_s`` seconds, then draws a new waypoint uniform in the
    disc of radius ``area_radius_m`` and a new speed U[speed_min_mps, speed_max_mps], and goes on. Several legs may
    fit in one interval: the loop, vectorised over learners, runs until every learner's time is used. A learner
    whose waypoint equals its position arrives at once. When a pause ends, the next leg is drawn at once (even at
    the very end of the interval), so a learner with pause_left_s = 0 is always travelling.

    An interval of more than :data:`RWP_STATIONARY_AFTER_LEGS` mean legs, ``interval_s`` > N (E[L] E[1/V] +
    pause_s) with E[L] = 128 R / (45 pi), would cost the loop many rounds;
    the state is then drawn from the stationary regime (:func:`random_waypoint_stationary`) instead, independent of
    the given state: the process renews at every arrival, so after that many legs its law is the stationary one
    to within sampling noise (needs speed_min_mps > 0; with v_min = 0 there is no stationary regime and the loop
    runs).

    Returns new arrays (position_m (K, 2), velocity_mps (K, 2), waypoint_m (K, 2), pause_left_s (K,)); the velocity
    is the current one: speed times the unit vector toward the waypoint, or zero while paused.
    """
    _check_speeds(speed_min_mps, speed_max_mps)
    if _rwp_is_stationary_after(interval_s, area_radius_m, speed_min_mps, speed_max_mps, pause_s):
        return random_waypoint_stationary(rng, np.shape(position_m)[0], area_radius_m, speed_min_mps, speed_max_mps,
                                          pause_s)
    position = np.array(position_m, dtype=np.float64, copy=True)
    waypoint = np.array(waypoint_m, dtype=np.float64, copy=True)
    pause_left = np.maximum(np.array(pause_left_s, dtype=np.float64, copy=True), 0.0)
    velocity_in = np.asarray(velocity_mps, dtype=np.float64)
    speed = np.hypot(velocity_in[:, 0], velocity_in[:, 1])
    time_left = np.full(position.shape[0], float(interval_s))
    pause_s = max(float(pause_s), 0.0)

    def start_legs(mask: np.ndarray) -> None:
        count = int(mask.sum())
        if count:
            waypoint[mask] = uniform_in_disc(rng, count, area_radius_m)
            speed[mask] = rng.uniform(speed_min_mps, speed_max_mps, size=count)

    while True:
        active = time_left > 0.0
        if not active.any():
            break
        # 1. Spend the remaining pause; a pause that ends starts the next leg.
        paused = active & (pause_left > 0.0)
        if paused.any():
            spent = np.where(paused, np.minimum(pause_left, time_left), 0.0)
            pause_left -= spent
            time_left -= spent
            ended = paused & (pause_left <= 0.0)
            pause_left[ended] = 0.0
            start_legs(ended)
        # 2. Travel toward the waypoint: arrive if the time left allows, else stop part way.
        moving = (time_left > 0.0) & (pause_left <= 0.0)
        if not moving.any():
            continue
        direction, distance = _unit_vectors(waypoint - position)
        with np.errstate(divide="ignore", invalid="ignore"):
            time_to_arrive = np.where(distance > 0.0, distance / speed, 0.0)  # inf where stuck at speed 0
        arrive = moving & (time_to_arrive <= time_left)
        part_way = moving & ~arrive
        position[part_way] += (speed[part_way] * time_left[part_way])[:, None] * direction[part_way]
        time_left[part_way] = 0.0
        if arrive.any():
            position[arrive] = waypoint[arrive]
            time_left[arrive] = np.maximum(time_left[arrive] - time_to_arrive[arrive], 0.0)
            if pause_s > 0.0:
                pause_left[arrive] = pause_s
            else:
                start_legs(arrive)

    direction, _ = _unit_vectors(waypoint - position)
    velocity = np.where((pause_left > 0.0)[:, None], 0.0, speed[:, None] * direction)
    return position, velocity, waypoint, pause_left


#: An interval (or burn-in) longer than this many legs of the fastest random-waypoint learner is replaced by a draw
#: from the stationary regime (:func:`random_waypoint_step`).
RWP_STATIONARY_AFTER_LEGS = 100


def mean_leg_length_m(area_radius_m: float) -> float:
    """E|X - Y| for X, Y independent and uniform in a disc of radius R = ``area_radius_m`` (m): 128 R / (45 pi), m
    (the mean random-waypoint leg)."""
    return 128.0 * area_radius_m / (45.0 * np.pi)


def mean_leg_time_s(area_radius_m: float, speed_min_mps: float, speed_max_mps: float, pause_s: float) -> float:
    """The mean time of one random-waypoint leg and its pause (s): E[L] E[1/V] + pause, E[1/V] = ln(v_max / v_min)
    / (v_max - v_min) for V ~ U[v_min, v_max] (1 / v_min when they are equal); v_min > 0."""
    if speed_max_mps > speed_min_mps:
        mean_inverse_speed = np.log(speed_max_mps / speed_min_mps) / (speed_max_mps - speed_min_mps)
    else:
        mean_inverse_speed = 1.0 / speed_min_mps
    return max(float(pause_s), 0.0) + mean_leg_length_m(area_radius_m) * float(mean_inverse_speed)


def _rwp_is_stationary_after(interval_s: float, area_radius_m: float, speed_min_mps: float, speed_max_mps: float,
                             pause_s: float) -> bool:
    """Whether ``interval_s`` spans more than :data:`RWP_STATIONARY_AFTER_LEGS` mean legs and pauses
    (:func:`mean_leg_time_s`), and the model has a stationary regime (v_min > 0). Measured in mean legs, not in legs
    of the fastest learner, so that with widely spread speeds a slow learner is not redrawn after a fraction of
    its leg; the loop that runs below the threshold stays bounded (at most about N v_max E[1/V] legs of the fastest
    learner)."""
    if speed_min_mps <= 0.0:
        return False
    return float(interval_s) > RWP_STATIONARY_AFTER_LEGS * mean_leg_time_s(area_radius_m, speed_min_mps,
                                                                             speed_max_mps, pause_s)


def random_waypoint_stationary(rng: np.random.Generator, num: int, area_radius_m: float, speed_min_mps: float,
                               speed_max_mps: float,
                               pause_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``num`` independent draws of the random-waypoint state in its time-stationary regime (perfect simulation,
    Le Boudec & Vojnovic, INFOCOM 2005), for the disc of radius R = ``area_radius_m`` (m), speeds
    U[v_min, v_max] = U[``speed_min_mps``, ``speed_max_mps``] (m/s, v_min > 0) and pause p = ``pause_s`` (s).

    By Palm inversion a learner is paused with probability p / (p + E[L] E[1/V]), E[L] = 128 R / (45 pi),
    E[1/V] = ln(v_max / v_min) / (v_max - v_min) (1 / v when equal). Paused: at a waypoint uniform in the disc,
    with a residual pause uniform on (0, p]. Travelling: on a leg whose ends are uniform in the disc, weighted by
    its length (rejection: a pair is kept with probability |Y - X| / (2R); R = 0 keeps every pair), at a speed
    with density proportional to 1 / v on [v_min, v_max] (v = v_min (v_max / v_min)^u), at a point uniform along
    the leg, heading to its end.

    Draws, in order: num uniforms (paused or not), then for the paused learners their waypoints and residual
    pauses, then for the travelling ones rounds of (start, end, acceptance) until every pair is kept, then their
    speeds and the fractions along their legs. Returns (position_m (num, 2), velocity_mps (num, 2),
    waypoint_m (num, 2), pause_left_s (num,)) as :func:`random_waypoint_step`.
    """
    _check_speeds(speed_min_mps, speed_max_mps)
    if speed_min_mps <= 0.0:
        raise ValueError("random waypoint with speed_min_mps = 0 has no stationary regime")
    pause_s = max(float(pause_s), 0.0)
    cycle_s = mean_leg_time_s(area_radius_m, speed_min_mps, speed_max_mps, pause_s)  # mean leg and pause, s
    paused = rng.random(num) < (pause_s / cycle_s if cycle_s > 0.0 else 0.0)
    position, waypoint, pause_left = np.empty((num, 2)), np.empty((num, 2)), np.zeros(num)
    n_paused = int(paused.sum())
    position[paused] = uniform_in_disc(rng, n_paused, area_radius_m)
    waypoint[paused] = position[paused]
    pause_left[paused] = pause_s * (1.0 - rng.random(n_paused))  # in (0, pause_s]
    moving = np.flatnonzero(~paused)
    start, end = np.empty((moving.size, 2)), np.empty((moving.size, 2))
    todo = np.arange(moving.size)
    while todo.size:  # length-biased legs by rejection (acceptance E[L] / 2R = 0.45 per round)
        start[todo] = uniform_in_disc(rng, todo.size, area_radius_m)
        end[todo] = uniform_in_disc(rng, todo.size, area_radius_m)
        length = np.hypot(*(end[todo] - start[todo]).T)
        todo = todo[rng.random(todo.size) * 2.0 * area_radius_m > length]  # kept: u 2R <= |Y - X|
    speed = speed_min_mps * (speed_max_mps / speed_min_mps) ** rng.random(moving.size)
    along = rng.random(moving.size)
    position[moving] = start + along[:, None] * (end - start)
    waypoint[moving] = end
    direction, _ = _unit_vectors(end - position[moving])
    velocity = np.zeros((num, 2))
    velocity[moving] = speed[:, None] * direction
    return position, velocity, waypoint, pause_left


def _check_speeds(speed_min_mps: float, speed_max_mps: float) -> None:
    if not 0.0 <= speed_min_mps <= speed_max_mps:
        raise ValueError(f"need 0 <= speed_min_mps <= speed_max_mps, got {speed_min_mps} and {speed_max_mps}")


def gauss_markov_init(rng: np.random.Generator, num: int, area_radius_m: float,
                      mean_speed_mps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gauss-Markov state of ``num`` learners: positions uniform in the disc of radius ``area_radius_m`` (m), a mean
    velocity of magnitude ``mean_speed_mps`` (m/s) in a uniform random direction per learner, and the velocity
    starting at the mean velocity. Returns (position_m (num, 2), velocity_mps (num, 2), mean_velocity_mps (num, 2))."""
    position = uniform_in_disc(rng, num, area_radius_m)
    angle = rng.uniform(0.0, 2.0 * np.pi, size=num)
    mean_velocity = mean_speed_mps * np.stack([np.cos(angle), np.sin(angle)], axis=-1)
    return position, mean_velocity.copy(), mean_velocity


def gauss_markov_step(rng: np.random.Generator, position_m: np.ndarray, velocity_mps: np.ndarray,
                      mean_velocity_mps: np.ndarray, interval_s: float, memory: float, speed_std_mps: float,
                      area_radius_m: float, max_speed_mps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One Gauss-Markov mobility step of ``interval_s`` seconds for K learners (Liang & Haas 1999), per axis:
    v' = alpha v + (1 - alpha) vbar + sqrt(1 - alpha^2) sigma w, alpha = ``memory`` in [0, 1],
    sigma = ``speed_std_mps``, w ~ N(0, I2) ((K, 2) normals drawn every step). |v'| is clipped to
    ``max_speed_mps`` (direction kept), then position += v' interval_s. A learner that leaves the disc of radius
    ``area_radius_m`` is reflected radially back inside (r -> 2R - r, clamped to [0, R]), its velocity's radial
    component is flipped and its mean velocity's radial component is made to point inward (flipped if outward),
    so that it turns back.

    Shapes: position_m, velocity_mps, mean_velocity_mps (K, 2) in m, m/s, m/s. Returns new arrays
    (position_m, velocity_mps, mean_velocity_mps).
    """
    if not 0.0 <= memory <= 1.0:
        raise ValueError(f"memory must lie in [0, 1], got {memory}")
    position = np.asarray(position_m, dtype=np.float64)
    velocity = np.asarray(velocity_mps, dtype=np.float64)
    mean_velocity = np.array(mean_velocity_mps, dtype=np.float64, copy=True)
    noise = rng.standard_normal(position.shape)
    velocity = memory * velocity + (1.0 - memory) * mean_velocity + np.sqrt(1.0 - memory**2) * speed_std_mps * noise
    speed = np.hypot(velocity[:, 0], velocity[:, 1])
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(speed > max_speed_mps, max_speed_mps / speed, 1.0)
    velocity = velocity * scale[:, None]
    position = position + velocity * interval_s

    radial, radius = _unit_vectors(position)
    outside = radius > area_radius_m
    if outside.any():
        new_radius = np.clip(2.0 * area_radius_m - radius[outside], 0.0, area_radius_m)
        position[outside] = radial[outside] * new_radius[:, None]
        u = radial[outside]
        v_radial = np.sum(velocity[outside] * u, axis=1)
        velocity[outside] -= 2.0 * v_radial[:, None] * u
        m_radial = np.sum(mean_velocity[outside] * u, axis=1)
        mean_velocity[outside] -= 2.0 * np.maximum(m_radial, 0.0)[:, None] * u
    return position, velocity, mean_velocity


# --------------------------------------------------------------------------------------------------------------------
# Computing-service Markov chain
# --------------------------------------------------------------------------------------------------------------------


def _inverse_cdf(cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Index of the first entry of each row of ``cdf`` (N, S) above ``u`` (N,); rows are normalised so that the
    last entry is exactly 1 (a trailing zero-probability state is never picked)."""
    cdf = cdf / cdf[:, -1:]
    return np.minimum(np.sum(cdf <= u[:, None], axis=1), cdf.shape[1] - 1).astype(np.int64)


def markov_step(rng: np.random.Generator, state: np.ndarray, transition: np.ndarray) -> np.ndarray:
    """Next state of each learner's Markov chain: ``state`` (K,) ints in [0, S), ``transition`` (S, S) row-stochastic
    (P[i, j] = Pr(next j | now i)). Draws one uniform per learner (always K draws) and inverts the cumulative sum of
    the learner's row. Returns (K,) int64."""
    state = np.asarray(state, dtype=np.int64)
    transition = np.asarray(transition, dtype=np.float64)
    u = rng.random(state.shape[0])
    return _inverse_cdf(np.cumsum(transition, axis=1)[state], u)


def stationary_distribution(transition: np.ndarray) -> np.ndarray:
    """Stationary distribution pi (S,) of the row-stochastic ``transition`` (S, S): pi P = pi, sum(pi) = 1, solved by
    least squares on [P^T - I; 1^T] pi = [0; 1] (tiny negative round-off is clipped). For a chain with several
    closed classes the least-squares solution is one of the stationary distributions."""
    transition = np.asarray(transition, dtype=np.float64)
    size = transition.shape[0]
    if transition.shape != (size, size):
        raise ValueError(f"transition must be square, got shape {transition.shape}")
    system = np.vstack([transition.T - np.eye(size), np.ones((1, size))])
    target = np.zeros(size + 1)
    target[-1] = 1.0
    pi = np.linalg.lstsq(system, target, rcond=None)[0]
    pi = np.clip(pi, 0.0, None)
    return pi / pi.sum()


def draw_stationary(rng: np.random.Generator, num: int, transition: np.ndarray) -> np.ndarray:
    """``num`` states drawn i.i.d. from the stationary distribution of ``transition`` (one uniform per learner).
    Returns (num,) int64."""
    pi = stationary_distribution(transition)
    cdf = np.broadcast_to(np.cumsum(pi), (num, pi.size))
    return _inverse_cdf(cdf, rng.random(num))
