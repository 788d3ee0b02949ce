"""Predicted outages of the coming cycle: what an orchestrator can forecast, per learner (docs/dynamics.md §6).

Two probabilities per learner, for every env's observation:

- ``outage``: its exchange fails (:meth:`mel_gym.world.state.World.link_outage`): it is out of coverage, its
  coming gain falls short of the scheduled one (outdated CSI) or its upload is lost to a packet error;
- ``compute_drop``: its CPU share in the coming cycle is below the one it reported (throttled or frozen).

Predictors (``prediction.predictor``):

- ``none``: no prediction, zeros;
- ``model``: from what the orchestrator knows at decision time: positions (so the distance moved since the
  measurement and the coming path loss), the measured shadowing and small-scale gain, the scenario's
  channel model, and the CPU state each learner reported. The coming shadowing and fading are the world's own
  AR(1) / Gauss-Markov updates from the measurement, averaged over ``prediction.samples`` draws of a Latin
  hypercube (each of the shadowing innovation N(0, 1), the fading innovation's power Exp(1) and its phase
  U[0, 2 pi) at stratified quantiles, fixed once: the prediction is a deterministic function of the state
  and never touches the world's random streams); each draw's link fails if its gain is short of the scheduled
  one, else with the packet-error probability of its large-scale gain. The compute drop is the reported state's
  row of the transition matrix. The model is the world's own, so the prediction is calibrated
  (tests/test_prediction.py bins 10^4 learner-cycles);
- ``oracle``: knows the coming cycle's true channel and CPU state (the packet-error draw stays unknown:
  the outage probability is q at the true large-scale gain, or 1 where the link fails for sure);
- ``clairvoyant``: knows the coming cycle's realised outcome, its packet-error draws included: 1 where the link
  fails (:meth:`~mel_gym.world.state.World.link_outage`) or the CPU drops
  (:meth:`~mel_gym.world.state.World.compute_dropped`), else 0. It is non-causal (no orchestrator can know a
  draw that has not happened): an upper bound on what prediction can give, never a baseline.

Every predictor evaluates the links at the scenario's learner power and band, and none draws from the world's
random streams. The prediction is computed once per cycle (the observation and a decision that weighs the risk
both ask) and returned read-only.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri

from mel_gym.world import dynamics
from mel_gym.world.costs import DEADLINE_RTOL
from mel_gym.world.radio import channel_power_gain
from mel_gym.world.state import World

#: Seed of the predictor's fixed Monte Carlo draws (independent of every env's seed).
PREDICTOR_SEED = 20_260_427


def failure_probability(outage: np.ndarray, compute_drop: np.ndarray) -> np.ndarray:
    """P(a learner's result is lost in the coming cycle): its link fails or its CPU drops, taken as independent:
    1 - (1 - outage)(1 - compute_drop)."""
    return 1.0 - (1.0 - np.asarray(outage)) * (1.0 - np.asarray(compute_drop))


class OutagePredictor:
    """Per-learner outage and compute-drop probabilities of a :class:`World`'s coming cycle."""

    def __init__(self, world: World):
        self.world = world
        self.kind = world.scenario.prediction.predictor
        samples = world.scenario.prediction.samples
        rng = np.random.default_rng(PREDICTOR_SEED)
        strata = lambda: (rng.permutation(samples) + 0.5) / samples  # noqa: E731 - one stratified U(0, 1) per draw
        self._shadowing_draws = ndtri(strata())  # N(0, 1)
        self._power_draws = -np.log1p(-strata())  # Exp(1): the power of a CN(0, 1) draw, or i.i.d. Rayleigh fading
        self._fading_draws = np.sqrt(self._power_draws) * np.exp(2j * np.pi * strata())  # CN(0, 1)
        state_share = world.cpu_share
        #: P(the coming share is below the reported one | reported state), per state
        self._drop_by_state = np.array([world.transition[s, state_share < state_share[s]].sum() for s in range(3)])
        self._cache: tuple[int, tuple[np.ndarray, np.ndarray]] | None = None  # (world revision, prediction)

    def predict(self) -> tuple[np.ndarray, np.ndarray]:
        """(outage probability, compute-drop probability), each (n_envs, K) in [0, 1], read-only; computed once
        per state of the coming cycle (:attr:`World.revision <mel_gym.world.state.World.revision>`)."""
        revision = self.world.revision
        if self._cache is None or self._cache[0] != revision:
            prediction = self._predict()
            for array in prediction:
                array.setflags(write=False)
            self._cache = (revision, prediction)
        return self._cache[1]

    def _predict(self) -> tuple[np.ndarray, np.ndarray]:
        w = self.world
        shape = w.state.battery_j.shape
        if self.kind == "none":
            return np.zeros(shape), np.zeros(shape)
        if self.kind == "oracle":
            return w.outage_probability(), w.compute_dropped().astype(np.float64)
        if self.kind == "clairvoyant":
            return w.link_outage().astype(np.float64), w.compute_dropped().astype(np.float64)
        if w.scenario.compute.service == "markov":
            drop = self._drop_by_state[w.measured.cpu_state]
        else:
            drop = np.zeros(shape)
        return self._model_outage(), drop

    def _model_outage(self) -> np.ndarray:
        """(n_envs, K): 1 out of coverage; under perfect CSI the exact probability (only the packet error is left
        to chance); under outdated CSI 1 - E[1(g >= g_scheduled) (1 - q(gbar))] over the coming gain's law given
        the measurement, g = gbar |h|^2, gbar the large-scale gain (the coming path loss and shadowing)."""
        w = self.world
        if not w.outdated_csi:  # the coming gain is known: what is left to chance is the packet error
            return w.outage_probability()
        ch, st, m = w.scenario.channel, w.state, w.measured
        moved = w.moved_since_measurement()[..., None]  # (n, K, 1)
        shadowing = np.broadcast_to(m.shadowing_db[..., None], moved.shape[:-1] + (self._shadowing_draws.size,))
        if ch.shadowing_decorrelation_m is not None:
            a = dynamics.shadowing_correlation(moved, ch.shadowing_decorrelation_m)
            shadowing = a * shadowing + np.sqrt(1.0 - a**2) * ch.shadowing_std_db * self._shadowing_draws
        if ch.fading == "gauss-markov":
            rho = w.coming_fading_correlation()[..., None]
            power = np.abs(rho * m.fading_gain[..., None] + np.sqrt(1.0 - rho**2) * self._fading_draws) ** 2
        elif ch.fading == "rayleigh":
            power = np.broadcast_to(self._power_draws, shadowing.shape)
        else:
            power = np.ones(shadowing.shape)
        mean_gain = channel_power_gain(st.path_loss_db[..., None], shadowing, 1.0)  # (n, K, samples)
        on_schedule = mean_gain * power >= w.measured_gain()[..., None] * (1.0 - DEADLINE_RTOL)  # as the world
        delivered = on_schedule * (1.0 - w.packet_error_probability(mean_gain))
        return np.where(w.in_coverage, 1.0 - delivered.mean(axis=-1), 1.0)
