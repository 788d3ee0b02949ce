"""The batched simulator: decisions, stragglers, batteries, FL pools, divergence, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mel_gym.config import load_scenario
from mel_gym.simulation import Decision, MELSimulator


def _sim(n_envs=1, **overrides):
    base = {"num_learners": 4, "samples_per_cycle": 400}
    base.update(overrides)
    return MELSimulator(load_scenario("default", base), n_envs=n_envs)


def _run(sim, task_sizes, tau):
    return sim.step(Decision(np.asarray(task_sizes), np.asarray(tau)))


def test_times_follow_the_formulas_and_stragglers_contribute_nothing():
    sim = _sim()
    sim.reset([1])
    d = np.array([[100, 100, 100, 100]])
    c = sim.coefficients()
    tau = np.full((1, 4), 3)
    out = _run(sim, d, tau)
    expected = c.c2 * 3 * d + c.c1 * d + c.c0
    T = sim.scenario.cycle_deadline_s
    assert np.array_equal(out.stragglers, expected > T * (1 + 1e-9))
    assert np.array_equal(out.finished, ~out.stragglers)
    ok = out.finished[0]
    assert np.allclose(out.time_s[0, ok], expected[0, ok])  # who finishes spends the planned time
    assert np.all(out.time_s <= T * (1 + 1e-9))  # who does not stops at T
    # model and data come down at the orchestrator's power, the model goes up at the learner's
    assert np.all(out.rate_down_bps > out.rate_up_bps)
    assert np.allclose(out.time_send_s[0, ok], ((sim.model_bits + d * sim.sample_bits) / out.rate_down_bps)[0, ok])
    assert np.allclose(out.time_return_s[0, ok], (sim.model_bits / out.rate_up_bps)[0, ok])
    e = sim.scenario.compute.kappa * sim.world.state.cpu_hz**2 * 3 * d * sim.scenario.compute.cycles_per_sample
    assert np.allclose(out.energy_compute_j[0, ok], e[0, ok])


def test_only_stragglers_means_the_model_is_kept():
    sim = _sim()
    sim.reset([0])
    loss0 = sim.loss.copy()
    out = _run(sim, [[100, 100, 100, 100]], [[1000, 1000, 1000, 1000]])  # nobody can do 1000 iterations in 0.1 s
    assert out.stragglers.all() and not out.finished.any()
    assert np.array_equal(out.loss_after, loss0) and np.array_equal(sim.loss, loss0)


def test_training_improves_the_global_model():
    sim = _sim()
    sim.reset([0])
    losses = [sim.loss[0]]
    for _ in range(5):
        out = _run(sim, [[100, 100, 100, 100]], np.full((1, 4), 3))
        assert out.finished.all()
        losses.append(out.loss_after[0])
    assert np.all(np.diff(losses) < 0)
    assert np.all(sim.world.state.cycle == 5)


def test_a_straggler_contributes_nothing():
    with_straggler, without = _sim(), _sim()
    with_straggler.reset([4])
    without.reset([4])
    a = _run(with_straggler, [[100, 100, 100, 100]], [[3, 3, 3, 10_000]])
    b = _run(without, [[100, 100, 100, 0]], [[3, 3, 3, 0]])
    assert b.finished[0].tolist() == [True, True, True, False]  # learner 3 had no task
    assert a.stragglers[0].tolist() == [False, False, False, True]
    assert a.finished[0].tolist() == [True, True, True, False]
    for (wa, ba), (wb, bb) in zip(with_straggler.global_weights, without.global_weights):
        assert torch.equal(wa, wb) and torch.equal(ba, bb)


def test_decision_validation_names_the_field_and_leaves_state():
    sim = _sim()
    sim.reset([0])
    fading = sim.world.state.fading_power.copy()
    with pytest.raises(ValueError, match=r"Decision.task_sizes has shape \(1, 3\)"):
        _run(sim, [[1, 2, 3]], [[1, 1, 1, 1]])
    with pytest.raises(ValueError, match="Decision.local_iterations must hold integers >= 0"):
        _run(sim, [[1, 2, 3, 4]], [[1, -1, 1, 1]])
    with pytest.raises(ValueError, match="sum to"):
        _run(sim, [[400, 1, 0, 0]], [[1, 1, 1, 1]])
    with pytest.raises(ValueError, match="exceeds the learner's cap"):
        _run(sim, [[401, 0, 0, 0]], [[1, 1, 1, 1]])
    with pytest.raises(ValueError, match="Decision.tx_power_w"):
        sim.step(Decision(np.ones((1, 4), int), np.ones((1, 4), int), tx_power_w=np.full((1, 4), np.nan)))
    assert np.array_equal(sim.world.state.fading_power, fading) and sim.world.state.cycle[0] == 0


def test_battery_depletion_removes_the_learner():
    sim = _sim(energy={"battery_min_j": 1e-4, "battery_max_j": 1e-4})
    sim.reset([0])
    out = _run(sim, [[100, 100, 100, 100]], [[3, 3, 3, 3]])
    assert out.depleted.any()
    assert np.all(out.energy_j <= 1e-4 * (1 + 1e-9))  # nobody is charged more than its battery held
    assert np.allclose(out.energy_j[out.depleted], 1e-4) and np.all(out.time_s[out.depleted] < 0.1)
    assert not np.any(out.finished & out.depleted)
    assert np.array_equal(sim.world.state.alive, ~out.depleted)
    dead = int(np.argmax(out.depleted[0]))
    d = np.zeros((1, 4), int)
    d[0, dead] = 10
    with pytest.raises(ValueError, match="empty battery"):
        _run(sim, d, np.ones((1, 4), int))


def test_diverging_local_training_is_dropped_and_reported():
    sim = _sim(learning={"learning_rate": 100.0})  # the largest step size a scenario accepts
    sim.reset([0])
    out = _run(sim, [[100, 100, 100, 100]], [[2, 2, 2, 2]])
    assert np.all(np.isfinite(out.loss_after))  # huge, but the model stays finite
    sim.trainer.learning_rate = 1e30  # force an overflow to inf/NaN in local training
    out = _run(sim, [[100, 100, 100, 100]], [[2, 2, 2, 2]])
    assert out.diverged.any()
    assert not np.any(out.finished & out.diverged)
    assert all(bool(torch.isfinite(w).all()) for w, _ in sim.global_weights)
    assert np.all(np.isfinite(out.loss_after))


def test_fl_mode_uses_local_pools():
    sim = _sim(mode="fl", learning={"partition": "shards", "shards_per_learner": 1})
    sim.reset([3])
    caps = sim.task_caps[0]
    assert caps.sum() == sim.trainer.num_train_samples
    labels = np.asarray(sim._train_labels)
    for k in range(4):
        pool = sim.pool_index[0, k, : caps[k]]
        assert len(np.unique(labels[pool])) <= 4  # one label-sorted shard of 1/4 of the data
    c = sim.coefficients()
    assert np.all(c.c1 == 0)
    index = sim._draw_samples(np.array([[5, 5, 5, 5]]), np.ones((1, 4), bool))
    for k in range(4):
        assert set(index[0, k].tolist()) <= set(sim.pool_index[0, k, : caps[k]].tolist())
    out = _run(sim, [[5, 5, 5, 5]], [[1, 1, 1, 1]])
    assert np.allclose(out.time_send_s[out.participants], (sim.model_bits / out.rate_down_bps)[out.participants])


def test_same_seed_same_trajectory_and_envs_are_independent():
    a, b = _sim(n_envs=2), _sim(n_envs=1)
    a.reset([5, 9])
    b.reset([9])
    d = np.array([[100, 100, 100, 100]])
    tau = np.full((1, 4), 2)
    for _ in range(3):
        oa = a.step(Decision(np.repeat(d, 2, 0), np.repeat(tau, 2, 0)))
        ob = b.step(Decision(d, tau))
        assert np.allclose(oa.loss_after[1], ob.loss_after[0], rtol=1e-5)
        assert np.array_equal(oa.rate_up_bps[1], ob.rate_up_bps[0])
    a.reset([9], env_ids=[0])
    c = _sim(n_envs=1)
    c.reset([9])
    assert np.array_equal(a.world.state.position_m[0], c.world.state.position_m[0])
    assert np.allclose(a.loss[0], c.loss[0])


def test_samples_per_cycle_above_the_data_is_an_error():
    with pytest.raises(ValueError, match="'samples_per_cycle' = 5000 exceeds"):
        _sim(samples_per_cycle=5000)


def test_step_before_reset_is_an_error():
    sim = _sim(n_envs=2)
    sim.reset([1], env_ids=[0])
    with pytest.raises(RuntimeError, match=r"call reset\(\) for envs \[1\]"):
        _run(sim, np.full((2, 4), 10), np.ones((2, 4), int))


def test_a_decision_moves_learners_and_the_orchestrator():
    sim = _sim(n_envs=2)
    sim.reset([0, 1])
    far = sim.world.state.position_m.copy()
    far[0, 0] = (290.0, 0.0)
    d, tau = np.full((2, 4), 100), np.full((2, 4), 1)
    before = sim.world.rates_bps()[1]
    out = sim.step(Decision(d, tau, learner_position_m=far))
    assert np.array_equal(sim.world.state.position_m, far)
    assert out.rate_up_bps[0, 0] != before[0, 0] and np.array_equal(out.rate_up_bps[1], before[1])
    drone = np.array([[290.0, 0.0, 20.0], [0.0, 0.0, 0.0]])
    sim.step(Decision(d, tau, orchestrator_m=drone))
    assert sim.world.state.distance_m[0, 0] == pytest.approx(20.0)
    with pytest.raises(ValueError, match="Decision.orchestrator_m"):
        sim.step(Decision(d, tau, orchestrator_m=np.zeros((2, 2))))
    with pytest.raises(ValueError, match="antenna height"):
        sim.step(Decision(d, tau, orchestrator_m=-np.ones((2, 3))))
