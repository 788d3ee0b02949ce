"""Device-to-device links: the path loss against a hand calculation, symmetric per-pair shadowing, fading per
pair and cycle with the right statistics, neighbour lists within range, the same links for every policy, and
K = 1,000 learners without a dense K x K block."""

from __future__ import annotations

import numpy as np
import pytest

from mel_gym.config import load_scenario
from mel_gym.world.d2d import D2DLinks, D2DParams, d2d_path_loss_db, pair_normals, pair_uniforms
from mel_gym.world.radio import free_space_path_loss_db
from mel_gym.world.state import World


def test_path_loss_is_tr38901_umi_nlos_by_hand_and_never_below_free_space():
    # 100 m at 2 GHz: 35.3 * 2 + 22.4 + 21.3 * log10(2) = 70.6 + 22.4 + 6.4120 = 99.412 dB
    assert d2d_path_loss_db(100.0, 2e9) == pytest.approx(70.6 + 22.4 + 21.3 * 0.30103, abs=1e-3)
    assert d2d_path_loss_db(100.0, 2e9) == pytest.approx(99.412, abs=1e-3)
    # 2 m: the NLOS formula gives 39.4 dB, free space 44.5 dB: the floor holds
    close = d2d_path_loss_db(2.0, 2e9)
    assert close == pytest.approx(float(free_space_path_loss_db(2.0, 2e9)))
    assert 35.3 * np.log10(2.0) + 22.4 + 21.3 * np.log10(2.0) < close
    d = np.geomspace(1, 5000, 200)
    assert np.all(d2d_path_loss_db(d, 2e9) >= free_space_path_loss_db(d, 2e9) - 1e-12)


def test_pair_draws_are_symmetric_fixed_functions_of_the_key_and_pair():
    low, high = np.array([0, 3, 5]), np.array([7, 4, 9])
    a = pair_uniforms(11, low, high, stream=2)
    assert np.array_equal(a, pair_uniforms(11, low, high, stream=2))
    assert not np.array_equal(a, pair_uniforms(12, low, high, stream=2))
    assert not np.array_equal(a, pair_uniforms(11, low, high, stream=3))
    z = pair_normals(5, np.zeros(200_000, int), np.arange(200_000), stream=0)
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1.0) < 0.01  # N(0, 1) to 4-5 s.e.
    u = pair_uniforms(5, np.zeros(200_000, int), np.arange(200_000), stream=1)[..., 0]
    assert np.all((u > 0) & (u < 1)) and abs(u.mean() - 0.5) < 0.003


def params(**kw) -> D2DParams:
    base = dict(range_m=50.0, max_neighbours=8, shadowing_std_db=7.82, rayleigh=True, carrier_hz=2e9,
                bandwidth_hz=1e6, noise_psd_w_per_hz=10 ** (-17.4 - 3))
    return D2DParams(**{**base, **kw})


def test_neighbours_are_within_range_nearest_first_and_gains_are_reciprocal():
    rng = np.random.default_rng(0)
    pos = rng.uniform(-100, 100, size=(2, 60, 2))
    links = D2DLinks(params(), 2, 60)
    links.start([0, 1], [7, 8])
    links.update([0, 1], pos, np.array([0, 0]))
    for e in range(2):
        for k in range(60):
            row = links.neighbours[e, k]
            valid = row[row >= 0]
            dist = np.linalg.norm(pos[e, valid] - pos[e, k], axis=1)
            assert np.all(dist <= 50.0) and np.all(np.diff(dist) >= 0) and k not in valid
            inside = np.flatnonzero(np.linalg.norm(pos[e] - pos[e, k], axis=1) <= 50.0)
            assert len(valid) == min(8, len(inside) - 1)  # every pair in range, up to the cap
            for j in valid:  # the link back, where j keeps k, has the same gain (same shadowing and fading)
                if k in links.neighbours[e, j]:
                    assert links.link_gain(e, k, j) == links.link_gain(e, j, k)
    # gain = 10^(-(PL + X)/10) h: with shadowing and fading off it is the path loss alone
    plain = D2DLinks(params(shadowing_std_db=0.0, rayleigh=False), 2, 60)
    plain.start([0, 1], [7, 8])
    plain.update([0, 1], pos, np.array([0, 0]))
    k, j = 0, plain.neighbours[0, 0, 0]
    d = np.linalg.norm(pos[0, j] - pos[0, 0])
    assert plain.gain[0, 0, 0] == pytest.approx(10 ** (-d2d_path_loss_db(d, 2e9) / 10))
    # rate = W log2(1 + P g / (N0 W))
    p = params()
    rate = plain.rates_bps(np.full((2, 60), 0.2))[0, 0, 0]
    assert rate == pytest.approx(1e6 * np.log2(1 + 0.2 * plain.gain[0, 0, 0] / (p.noise_psd_w_per_hz * 1e6)))


def test_fading_changes_per_cycle_with_unit_mean_and_shadowing_stays():
    pos = np.random.default_rng(1).uniform(-30, 30, size=(1, 40, 2))
    links = D2DLinks(params(range_m=100.0, max_neighbours=39), 1, 40)
    links.start([0], [3])
    gains = []
    for cycle in range(300):
        links.update([0], pos, np.array([cycle]))
        gains.append(links.gain[0].copy())
    gains = np.array(gains)  # (cycles, K, M)
    ratio = gains / gains.mean(axis=0)
    assert abs(ratio.mean() - 1.0) < 0.02 and abs(ratio.var() - 1.0) < 0.15  # Exp(1): mean 1, variance 1
    no_fading = D2DLinks(params(range_m=100.0, max_neighbours=39, rayleigh=False), 1, 40)
    no_fading.start([0], [3])
    no_fading.update([0], pos, np.array([0]))
    first = no_fading.gain.copy()
    no_fading.update([0], pos, np.array([9]))
    assert np.array_equal(first, no_fading.gain)


def test_the_world_gives_every_policy_the_same_links_and_a_clear_error_without_them():
    from mel_gym.simulation.base import episode_streams

    s = load_scenario("default", {"d2d": {"enabled": True}, "num_learners": 12})
    worlds = []
    for _ in range(2):
        w = World(s, 2)
        streams = episode_streams([5, 6], [0, 1])
        w.reset([0, 1], streams[0], streams[3], [int(r.integers(2**63)) for r in streams[5]])
        worlds.append(w.d2d_links())
    assert np.array_equal(worlds[0].gain, worlds[1].gain) and np.array_equal(worlds[0].neighbours, worlds[1].neighbours)
    plain = World(load_scenario("default"), 1)
    with pytest.raises(ValueError, match="d2d.enabled"):
        plain.d2d_links()


def test_a_thousand_learners_keep_neighbour_lists_not_a_dense_block():
    pos = np.random.default_rng(2).uniform(-500, 500, size=(1, 1000, 2))
    links = D2DLinks(params(range_m=100.0, max_neighbours=16), 1, 1000)
    links.start([0], [1])
    links.update([0], pos, np.array([0]))
    assert links.neighbours.shape == links.gain.shape == (1, 1000, 16)  # K x M, not K x K (speed: mel-gym bench)
    degree = (links.neighbours >= 0).sum(axis=-1)
    # ~ pi 100^2 / 1000^2 x 999 = 31 learners in range on average (fewer at the edges): most lists are full
    assert np.median(degree) == 16
