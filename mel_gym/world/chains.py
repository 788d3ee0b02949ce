"""The cost of a chain of learners training a split model (SplitChain-v0; docs/chains.md has every formula).

The job's MLP (layer widths w_0 .. w_L, L weight layers) is cut after the layers ``cuts`` into S stages of
consecutive layers (:class:`StageModel`). A chain is a sequence of learners, member i hosting the stages
first_i .. first_{i+1} - 1 (its *block*; the last member hosts up to stage S - 1). One cycle of a chain with d_c
samples and tau local iterations (one iteration = one pass over the d_c samples, as in the star envs):

1. every member downloads its block's parameters (the head also the d_c samples, in PL) at its downlink rate;
   the pipeline starts when the last download ends: t_start = max_i t_down_i;
2. each iteration streams the samples through the chain in microbatches of b = min(microbatch, d_c) samples,
   M = d_c / b of them; member i's slot per microbatch is its compute (forward and backward of its block) plus its
   sends over device-to-device links: activations to the next member and activation gradients to the previous,
   2 b a bits per cut of width a (a values of ``bits_per_value`` bits each, one way each):
   s_i = b C_i / f_i + b a_out_i B / r_{i->i+1} + b a_in_i B / r_{i->i-1}, C_i the block's cycles per sample;
   an iteration takes t_iter = (M + n - 1) max_i s_i (GPipe fill and drain with n members; n = 1 gives
   d_c C / f, the star's compute time);
3. every member uploads its block's parameters: t_end = t_start + tau t_iter + max_i t_up_i <= T.

Energy of member i: kappa f_i^2 x (cycles it ran) + P_i x (time it spent sending: activations, gradients, its
upload). A chain that misses T is dropped: its members stop at T and pay for what they did by then (the pipeline's
share done, the upload's share sent).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mel_gym.world.costs import DEADLINE_RTOL


@dataclass(frozen=True)
class StageModel:
    """An MLP cut into stages. Units: parameters, cycles per sample per iteration, bytes.

    Attributes:
        layer_sizes: widths w_0 (input) .. w_L (classes).
        cuts: the layers after which the model is cut, increasing in [1, L - 1].
        cycles_per_sample: C, the whole model's CPU cycles per sample and iteration (``compute.cycles_per_sample``).
        bits_per_value: bits of one parameter or activation.
        microbatch: b, the pipeline's microbatch, samples.
    """

    layer_sizes: tuple[int, ...]
    cuts: tuple[int, ...]
    cycles_per_sample: float
    bits_per_value: int
    microbatch: int

    def __post_init__(self) -> None:
        L = len(self.layer_sizes) - 1
        cuts = list(self.cuts)
        if cuts != sorted(set(cuts)) or (cuts and (cuts[0] < 1 or cuts[-1] > L - 1)):
            raise ValueError(f"scenario key 'chains.cuts' = {cuts} must be increasing layer indices in [1, {L - 1}] "
                             f"(the model {list(self.layer_sizes)} has {L} weight layers)")

    @property
    def num_stages(self) -> int:
        return len(self.cuts) + 1

    @property
    def stage_layers(self) -> list[tuple[int, int]]:
        """(first layer, last layer + 1) of every stage; layer l maps width w_l to w_{l+1}."""
        edges = [0, *self.cuts, len(self.layer_sizes) - 1]
        return list(zip(edges[:-1], edges[1:]))

    def _layer_flops(self) -> np.ndarray:
        """FLOPs per sample of every layer in one SGD step: forward and weight gradient 4 w, input gradient 2 w
        (not for the first layer), w = fan_in x fan_out (as :attr:`MLPSpec.flops_per_sample_step`)."""
        w = np.array([a * b for a, b in zip(self.layer_sizes[:-1], self.layer_sizes[1:])], dtype=np.float64)
        return 4.0 * w + 2.0 * np.where(np.arange(len(w)) > 0, w, 0.0)

    @property
    def stage_parameters(self) -> np.ndarray:
        """(S,) parameters (weights and biases) of each stage."""
        sizes = self.layer_sizes
        per_layer = np.array([a * b + b for a, b in zip(sizes[:-1], sizes[1:])], dtype=np.float64)
        return np.array([per_layer[a:b].sum() for a, b in self.stage_layers])

    @property
    def stage_cycles(self) -> np.ndarray:
        """(S,) C_s: CPU cycles per sample and iteration of each stage, the model's C split by the stages' FLOPs."""
        flops = self._layer_flops()
        return self.cycles_per_sample * np.array([flops[a:b].sum() for a, b in self.stage_layers]) / flops.sum()

    @property
    def cut_widths(self) -> np.ndarray:
        """(S - 1,) a_s: activation values per sample at the cut after stage s."""
        return np.array([self.layer_sizes[c] for c in self.cuts], dtype=np.float64)

    def block_memory_bytes(self, first: int, last: int) -> float:
        """Memory of stages first..last on one device: parameters and their gradients, and one microbatch's
        activations (the block's input and every layer's output), bytes."""
        (a, _), (_, b) = self.stage_layers[first], self.stage_layers[last]
        params = self.stage_parameters[first:last + 1].sum()
        activations = self.microbatch * sum(self.layer_sizes[a:b + 1])
        return float((2.0 * params + activations) * self.bits_per_value / 8.0)

    def stage_memory_bytes(self) -> np.ndarray:
        """(S,) memory of each stage alone, bytes."""
        return np.array([self.block_memory_bytes(s, s) for s in range(self.num_stages)])

    def blocks(self, first_stages: np.ndarray) -> list[tuple[int, int]]:
        """(first, last) stage of each member, from the members' first stages (increasing, starting at 0)."""
        firsts = [int(f) for f in first_stages]
        return [(f, (firsts[i + 1] if i + 1 < len(firsts) else self.num_stages) - 1) for i, f in enumerate(firsts)]


@dataclass
class ChainCosts:
    """One chain's cycle (see the module docstring); arrays over its n members. Units: s, J, bits.

    ``iterations``: the tau it can run within T alone (-1: not even the transfers fit); the rest for the tau it
    was given."""

    iterations: int
    time_start_s: float  # t_start, the slowest download
    iteration_s: float  # t_iter
    slot_s: np.ndarray  # s_i, each member's time per microbatch
    compute_s: np.ndarray  # each member's compute time per iteration
    time_s: float  # t_end for the given tau
    in_time: bool
    time_send_s: np.ndarray  # per member: the wait for the pipeline to start (its download included)
    time_compute_s: np.ndarray  # the pipeline's time, run by T
    time_return_s: np.ndarray  # its upload, sent by T
    energy_compute_j: np.ndarray
    energy_transmit_j: np.ndarray
    activation_bits: np.ndarray  # what each member sent over D2D links in the cycle (by T)


def chain_costs(model: StageModel, first_stages: np.ndarray, samples: int, iterations: int | None,
                cpu_hz: np.ndarray, rate_down_bps: np.ndarray, rate_up_bps: np.ndarray, rate_next_bps: np.ndarray,
                rate_prev_bps: np.ndarray, tx_power_w: np.ndarray, kappa: float, sample_bits: float,
                sends_data: bool, deadline_s: float, max_local_iterations: int) -> ChainCosts:
    """The costs of one chain (module docstring) of n members with ``first_stages`` (n,), d_c = ``samples``.

    ``rate_next_bps`` (n - 1,): member i -> i + 1 over D2D; ``rate_prev_bps`` (n - 1,): member i + 1 -> i;
    ``cpu_hz``, ``rate_down_bps``, ``rate_up_bps``, ``tx_power_w`` (n,). ``iterations``: the tau run (None: the
    most that fits, :attr:`ChainCosts.iterations`).
    """
    blocks = model.blocks(first_stages)
    n = len(blocks)
    bits = float(model.bits_per_value)
    params = np.array([model.stage_parameters[a:b + 1].sum() for a, b in blocks]) * bits
    cycles = np.array([model.stage_cycles[a:b + 1].sum() for a, b in blocks])
    widths = model.cut_widths
    a_out = np.array([widths[b] if i < n - 1 else 0.0 for i, (_, b) in enumerate(blocks)])
    a_in = np.array([widths[a - 1] if i > 0 else 0.0 for i, (a, _) in enumerate(blocks)])
    cpu = np.asarray(cpu_hz, dtype=np.float64)
    d = float(samples)
    b = min(float(model.microbatch), d)
    microbatches = d / b
    with np.errstate(divide="ignore", invalid="ignore"):
        down = (params + np.where(np.arange(n) == 0, d * sample_bits if sends_data else 0.0, 0.0)) / rate_down_bps
        up = params / np.asarray(rate_up_bps, dtype=np.float64)
        r_next = np.append(np.asarray(rate_next_bps, dtype=np.float64), np.inf)
        r_prev = np.insert(np.asarray(rate_prev_bps, dtype=np.float64), 0, np.inf)
        send_next, send_prev = b * a_out * bits / r_next, b * a_in * bits / r_prev
        compute = b * cycles / cpu
    send_next, send_prev = np.nan_to_num(send_next, nan=0.0), np.nan_to_num(send_prev, nan=0.0)
    slot = compute + send_next + send_prev
    t_iter = (microbatches + n - 1) * float(slot.max())
    t_start, t_up = float(down.max()), float(up.max())
    spare = deadline_s * (1.0 + DEADLINE_RTOL) - t_start - t_up
    if not np.isfinite(spare) or spare < 0:
        fits = -1
    elif t_iter <= 0:
        fits = max_local_iterations
    else:
        fits = int(min(max_local_iterations, np.floor(spare / t_iter)))
    tau = fits if iterations is None else int(iterations)
    tau = max(tau, 0)
    pipeline = tau * t_iter
    t_end = t_start + pipeline + t_up
    in_time = bool(np.isfinite(t_end) and t_end <= deadline_s * (1.0 + DEADLINE_RTOL))
    T = deadline_s
    if in_time:
        done, run, sent = 1.0, pipeline, up
    else:  # stopped at T: the pipeline's share done, the upload's share sent
        run = min(max(T - t_start, 0.0), pipeline)
        done = run / pipeline if pipeline > 0 else 0.0
        left = max(T - t_start - pipeline, 0.0)
        sent = np.where(np.isfinite(up), np.minimum(up, left), left)
    activation_bits = done * tau * d * (a_out + a_in) * bits
    with np.errstate(invalid="ignore"):
        transmit_s = done * tau * microbatches * (send_next + send_prev) + sent
    power = np.asarray(tx_power_w, dtype=np.float64)
    return ChainCosts(
        iterations=fits, time_start_s=t_start, iteration_s=t_iter, slot_s=slot, compute_s=microbatches * compute,
        time_s=t_end, in_time=in_time, time_send_s=np.full(n, min(t_start, T)), time_compute_s=np.full(n, run),
        time_return_s=np.asarray(sent, dtype=np.float64),
        energy_compute_j=kappa * cpu**2 * done * tau * d * cycles,
        energy_transmit_j=power * np.nan_to_num(transmit_s, posinf=0.0), activation_bits=activation_bits)
