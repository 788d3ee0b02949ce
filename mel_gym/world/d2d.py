"""Device-to-device (D2D) links between learners, for topologies beyond the star (docs/model.md, "D2D links").

Gain of the link from learner i to learner j in cycle t: g_ij = 10^(-(PL(d_ij) + X_ij) / 10) h_ij(t), with

- PL: 3GPP TR 38.901 (Table 7.4.1-1) UMi street-canyon NLOS between two devices at UE height 1.5 m (so its
  height term vanishes), PL = 35.3 log10(d / 1 m) + 22.4 + 21.3 log10(f_c / 1 GHz) dB, never below free space
  (the same floor as the access link, :func:`mel_gym.world.radio.path_loss_db`); d >= 1 m;
- X_ij ~ N(0, sigma^2) dB shadowing of the pair for the episode, symmetric (X_ij = X_ji);
- h_ij(t) ~ Exp(1) Rayleigh fading power, drawn per unordered pair and cycle (reciprocal within a cycle), or 1.

Rate at the sender's power P_i: r_ij = W log2(1 + P_i g_ij / (N0 W)) bit/s.

Only pairs within ``d2d.range_m`` are links, and each learner keeps its ``d2d.max_neighbours`` nearest of them: a
padded neighbour list (n_envs, K, M), never a dense K x K block, so K = 1,000 stays cheap (a k-d tree finds the
pairs). The randomness is counter-based: shadowing and fading are a hash of (the episode's D2D key, the pair) and
of (key, pair, cycle), so they depend neither on the actions nor on which links exist or are asked for first —
the same seed gives every policy the same links.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from mel_gym.world.radio import free_space_path_loss_db, shannon_rate_bps

#: Both ends of a D2D link are user devices at this antenna height, m (TR 38.901's h_UT reference).
UE_HEIGHT_M = 1.5
_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def d2d_path_loss_db(distance_m: np.ndarray, carrier_hz: float) -> np.ndarray:
    """TR 38.901 UMi street-canyon NLOS loss between two UEs at 1.5 m, dB, floored at free space; d >= 1 m."""
    d = np.maximum(np.asarray(distance_m, dtype=np.float64), 1.0)
    nlos = 35.3 * np.log10(d) + 22.4 + 21.3 * np.log10(carrier_hz / 1e9)
    return np.maximum(nlos, free_space_path_loss_db(d, carrier_hz))


def _mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: a bijective avalanche of uint64 values (Steele, Lea and Flood, OOPSLA 2014)."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def pair_uniforms(key: int, low: np.ndarray, high: np.ndarray, stream: int, count: int = 1) -> np.ndarray:
    """(..., count) uniforms in (0, 1), a fixed function of (key, the unordered pair (low, high), stream): the same
    for (i, j) and (j, i) and for every caller. ``stream`` separates the quantities (shadowing, each cycle's
    fading)."""
    with np.errstate(over="ignore"):
        base = _mix64(np.uint64(key) ^ _mix64(np.asarray(low, np.uint64) * np.uint64(0x9E3779B97F4A7C15)
                                              + np.asarray(high, np.uint64) + np.uint64(stream) * np.uint64(
                                                  0xD1B54A32D192ED03)))
        draws = _mix64(base[..., None] + np.arange(1, count + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15))
    return ((draws >> np.uint64(11)).astype(np.float64) + 0.5) / float(1 << 53)


def pair_normals(key: int, low: np.ndarray, high: np.ndarray, stream: int) -> np.ndarray:
    """Standard normals per unordered pair (Box-Muller on :func:`pair_uniforms`)."""
    u = pair_uniforms(key, low, high, stream, 2)
    return np.sqrt(-2.0 * np.log(u[..., 0])) * np.cos(2.0 * np.pi * u[..., 1])


def link_values(values: np.ndarray, neighbours: np.ndarray, senders: np.ndarray, receivers: np.ndarray
                ) -> np.ndarray:
    """(n,) the value (a gain, a rate) of each link senders[i] -> receivers[i] from one env's per-link ``values``
    (K, M) and ``neighbours`` (K, M); 0 where the receiver is not one of the sender's neighbours (a learner is never
    listed twice)."""
    senders = np.asarray(senders, dtype=np.int64)
    match = neighbours[senders] == np.asarray(receivers)[:, None]
    return np.where(match, values[senders], 0.0).sum(axis=1)


def link_value(values: np.ndarray, neighbours: np.ndarray, sender: int, receiver: int) -> float:
    """The value of the one link sender -> receiver (:func:`link_values`)."""
    return float(link_values(values, neighbours, [sender], [receiver])[0])


def member_link_rates(rates: np.ndarray, neighbours: np.ndarray, members: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n - 1,) each: the rates from member i to member i + 1 and back, of a sequence of ``members`` (a chain, a
    route), from one env's per-link ``rates`` (K, M) and ``neighbours`` (K, M); 0 where two are not linked."""
    members = np.asarray(members, dtype=np.int64)
    return (link_values(rates, neighbours, members[:-1], members[1:]),
            link_values(rates, neighbours, members[1:], members[:-1]))


@dataclass(frozen=True)
class D2DParams:
    """A scenario's D2D link parameters (``d2d.*``, with the channel's carrier, bandwidth and noise)."""

    range_m: float
    max_neighbours: int
    shadowing_std_db: float
    rayleigh: bool
    carrier_hz: float
    bandwidth_hz: float
    noise_psd_w_per_hz: float


class D2DLinks:
    """The D2D links of ``n_envs`` worlds of K learners (see the module docstring).

    After :meth:`reset` and every :meth:`update`: ``neighbours`` (n_envs, K, M) int, learner k's neighbours within
    range, nearest first, -1 padding; ``distance_m`` and ``gain`` (linear power gain of the link k -> neighbour) of
    the same shape (0 at padding)."""

    def __init__(self, params: D2DParams, n_envs: int, num_learners: int):
        self.params, self.n_envs, self.num_learners = params, n_envs, num_learners
        M = min(params.max_neighbours, max(num_learners - 1, 1))
        self.neighbours = np.full((n_envs, num_learners, M), -1, dtype=np.int64)
        self.distance_m = np.zeros((n_envs, num_learners, M))
        self.gain = np.zeros((n_envs, num_learners, M))
        self.keys = np.zeros(n_envs, dtype=np.uint64)

    def start(self, env_ids: list[int], keys: list[int]) -> None:
        """New episodes in ``env_ids``, each with its D2D key (drawn from the episode seed); :meth:`update` then
        gives their links."""
        for i, key in zip(env_ids, keys):
            self.keys[i] = np.uint64(key)

    def update(self, env_ids: list[int], position_m: np.ndarray, cycle: np.ndarray) -> None:
        """The links of cycle ``cycle`` (n_envs,) at the learners' positions (n_envs, K, 2), in ``env_ids``."""
        p = self.params
        M = self.neighbours.shape[2]
        for i in env_ids:
            points = np.asarray(position_m[i], dtype=np.float64)
            tree = cKDTree(points)
            dist, idx = tree.query(points, k=M + 1, distance_upper_bound=p.range_m)  # self first, inf past range
            dist, idx = np.atleast_2d(dist)[:, 1:], np.atleast_2d(idx)[:, 1:]
            ok = np.isfinite(dist)
            me = np.broadcast_to(np.arange(self.num_learners)[:, None], idx.shape)
            other = np.where(ok, idx, 0)
            low, high = np.minimum(me, other), np.maximum(me, other)
            key = int(self.keys[i])
            shadow_db = p.shadowing_std_db * pair_normals(key, low, high, stream=0)
            fading = (-np.log(pair_uniforms(key, low, high, stream=1 + int(cycle[i]))[..., 0]) if p.rayleigh
                      else np.ones(idx.shape))
            loss_db = d2d_path_loss_db(np.where(ok, dist, 1.0), p.carrier_hz) + shadow_db
            self.neighbours[i] = np.where(ok, idx, -1)
            self.distance_m[i] = np.where(ok, dist, 0.0)
            self.gain[i] = np.where(ok, np.power(10.0, -loss_db / 10.0) * fading, 0.0)

    def rates_bps(self, tx_power_w: np.ndarray) -> np.ndarray:
        """(n_envs, K, M) rate of each link at its sender's power ``tx_power_w`` (n_envs, K) W; 0 at padding."""
        p = self.params
        power = np.asarray(tx_power_w, dtype=np.float64)[..., None]
        rate = shannon_rate_bps(p.bandwidth_hz, power, self.gain, p.noise_psd_w_per_hz)
        return np.where(self.neighbours >= 0, rate, 0.0)

    def link_gain(self, env: int, sender: int, receiver: int) -> float:
        """The gain of link sender -> receiver in env ``env`` (0 if they are not neighbours)."""
        return link_value(self.gain[env], self.neighbours[env], sender, receiver)
