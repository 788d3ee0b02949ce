"""``mel-gym bench``: speed and memory of the embedded trainer and the native vector env, measured in one run.

1. Trainer throughput in learner-steps/s (one SGD step of one learner): the batched trainer against a
   per-learner loop of ``torch.nn`` modules with ``torch.optim.SGD`` (how Flower, FedML and FLSim run
   clients), on three workloads; and the trainer's achieved GFLOP/s.
2. The sgemm peak of this machine (a large float32 matrix product), measured in the same run.
3. Env-steps/s of the native vector env against ``gymnasium.vector.SyncVectorEnv`` over single envs, on
   the default (digits) and paper (MNIST, 784-300-124-60-10) presets, with equal-allocation actions (a = 0,
   every learner trains: training-bound) and uniform random actions (mostly tau = 0: overhead-bound), and on
   the dynamic preset in ReliableTaskAllocation-v0 (mobility, correlated channels, the CPU chain and the
   outage predictor on every step) and the drone and relocation presets in DroneOrchestrator-v0 and
   LearnerRelocation-v0 (flight, moves, the air-to-ground channel), with the training GFLOP/s each mode reaches (how close it runs to the
   FLOP limit).
4. Scale: seconds to build, reset and step one env at K = 16 and 1,000 learners (MultiHop-v0) and at K = 10 and
   1,000 (the dynamic preset in ReliableTaskAllocation-v0 with HA-Sync's plan, the multijob preset in MultiJob-v0
   with greedy-jobs' plan), and the step time per learner at the large K over that at the small one.
5. Peak resident memory of the process (after the trainer part and at the end).

Every ratio compares two implementations timed in turns in the same process (best of a few rounds), so that a
slow spell of the machine hits both; repeat a run to see the remaining noise.
"""

from __future__ import annotations

import gc
import json
import platform
import resource
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import gymnasium as gym
import numpy as np
import torch
from torch import nn

import mel_gym  # noqa: F401 - registers the env IDs
from mel_gym.config import load_scenario
from mel_gym.learning.datasets import DATASET_SHAPES, Dataset
from mel_gym.learning.model import MLPSpec
from mel_gym.learning.trainer import FLTrainer, resolve_device
from mel_gym.experiments import progress

ENV_ID = "mel_gym/TaskAllocation-v0"


@dataclass(frozen=True)
class TrainerWorkload:
    """K learners, each running ``iterations`` local iterations over its task in minibatches of ``batch_size``
    (None: full batch). Task sizes are proportional to CPU frequencies {0.7, 1.0, 1.4, 2.4} GHz when
    ``heterogeneous``, else equal; they sum to ``samples``."""

    name: str
    layers: tuple[int, ...]
    learners: int
    samples: int
    batch_size: int | None
    iterations: int
    heterogeneous: bool = False

    def task_sizes(self) -> np.ndarray:
        if not self.heterogeneous:
            return np.full(self.learners, self.samples // self.learners)
        freqs = np.resize([0.7, 1.0, 1.4, 2.4], self.learners)
        return np.floor(freqs / freqs.sum() * self.samples).astype(np.int64)

    def steps_per_round(self) -> int:
        sizes = self.task_sizes()
        per_iteration = np.ones_like(sizes) if self.batch_size is None else np.ceil(sizes / self.batch_size)
        return int(np.sum(per_iteration) * self.iterations)

    def flops_per_round(self) -> float:
        return float(MLPSpec(self.layers).flops_per_sample_step * self.task_sizes().sum() * self.iterations)


def trainer_workloads(quick: bool) -> list[TrainerWorkload]:
    return [
        TrainerWorkload("digits-mlp-minibatch", (64, 32, 10), 20, 1000, 10, 2),
        TrainerWorkload("mnist-mlp-minibatch", (784, 128, 64, 32, 16, 10), 20, 1000, 10, 2),
        # the seed's network with full-batch tasks of the seed's size: d = 60,000 over 20 learners (quick: 12,000)
        TrainerWorkload("paper-net-full-batch", (784, 300, 124, 60, 10), 20, 12_000 if quick else 60_000, None,
                        1 if quick else 2, heterogeneous=True),
    ]


def _synthetic_dataset(features: int, classes: int, n: int, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    x = rng.random((n, features), dtype=np.float32)
    y = rng.integers(0, classes, n)
    return Dataset("synthetic", x, y, x[:256], y[:256], classes)


def _best_times(fns: dict[str, Callable[[], None]], repeats: int, total: bool = False) -> dict[str, float]:
    """Wall time (s) of each function: the best of ``repeats`` rounds (``total``: the sum over them), after
    one warm-up call each.

    The functions take turns within a round, so that a slow spell of the machine hits all of them alike. Use
    ``total`` when successive calls do different work (env steps): every function then goes through the
    same sequence of calls.
    """
    for fn in fns.values():
        fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: (sum(t) if total else min(t)) for name, t in times.items()}


def bench_trainer(w: TrainerWorkload, device: torch.device, repeats: int) -> dict[str, Any]:
    """One FL round (K learners' local training) with the batched trainer and with a per-learner loop."""
    spec = MLPSpec(w.layers)
    sizes = w.task_sizes()
    data = _synthetic_dataset(w.layers[0], w.layers[-1], int(sizes.sum()))
    trainer = FLTrainer(spec, data, device, learning_rate=0.05, batch_size=w.batch_size)
    # As in a PL cycle, learner k gets d_k fresh samples drawn at random from the orchestrator's pool; both
    # implementations take the same index lists and gather the samples inside the timed round.
    order = np.random.default_rng(1).permutation(int(sizes.sum()))
    start = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    index = np.zeros((1, w.learners, int(sizes.max())), dtype=np.int64)
    for k in range(w.learners):
        index[0, k, : sizes[k]] = order[start[k] : start[k] + sizes[k]]
    index_t = [torch.from_numpy(index[0, k, : sizes[k]]).to(device) for k in range(w.learners)]
    global_weights = trainer.init_global([np.random.default_rng(0)])
    counts, iterations = sizes[None], np.full((1, w.learners), w.iterations)

    def batched() -> None:
        trainer.local_train(global_weights, w.learners, index, counts, iterations)
        if device.type == "cuda":
            torch.cuda.synchronize()

    # The reference: one nn.Module and one torch.optim.SGD per client, trained one after the other.
    def make_module() -> nn.Module:
        layers: list[nn.Module] = []
        for l, (a, b) in enumerate(zip(w.layers[:-1], w.layers[1:])):
            layers.append(nn.Linear(a, b))
            if l < len(w.layers) - 2:
                layers.append(nn.ReLU())
        return nn.Sequential(*layers).to(device)

    clients = [make_module() for _ in range(w.learners)]
    optimizers = [torch.optim.SGD(c.parameters(), lr=0.05) for c in clients]
    # Every client starts from the batched trainer's global model, so both compute the same round.
    linear_names = [name for name, module in clients[0].named_children() if isinstance(module, nn.Linear)]
    global_state = {}
    for name, (gw, gb) in zip(linear_names, global_weights):
        global_state[f"{name}.weight"] = gw[0].t().contiguous()
        global_state[f"{name}.bias"] = gb[0].clone()
    x_all, y_all = trainer.x_train, trainer.y_train
    loss_fn = nn.CrossEntropyLoss()

    def loop() -> None:
        for k, (client, opt) in enumerate(zip(clients, optimizers)):
            client.load_state_dict(global_state)
            xs, ys = x_all[index_t[k]], y_all[index_t[k]]
            step = int(sizes[k]) if w.batch_size is None else w.batch_size
            for _ in range(w.iterations):
                for s in range(0, int(sizes[k]), step):
                    opt.zero_grad()
                    loss_fn(client(xs[s : s + step]), ys[s : s + step]).backward()
                    opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()

    times = _best_times({"batched": batched, "loop": loop}, repeats)
    t_batched, t_loop = times["batched"], times["loop"]
    # Same inputs, same algorithm: the last client's model after the loop equals the batched learner's.
    local = trainer.local_train(global_weights, w.learners, index, counts, iterations)
    last_client = dict(clients[-1].named_children())
    diff = max(float((lw[-1] - last_client[name].weight.detach().t()).abs().max())
               for name, (lw, _) in zip(linear_names, local.weights))
    steps = w.steps_per_round()
    return {
        "workload": w.name, "layers": list(w.layers), "learners": w.learners, "samples_per_round": int(sizes.sum()),
        "batch_size": w.batch_size, "iterations": w.iterations, "kernel": trainer.kernel_for(counts),
        "loop_steps_per_s": steps / t_loop, "batched_steps_per_s": steps / t_batched, "speedup": t_loop / t_batched,
        "gflops": w.flops_per_round() / t_batched / 1e9, "loop_gflops": w.flops_per_round() / t_loop / 1e9,
        "max_abs_weight_diff": diff,
    }


def sgemm_peak_gflops(device: torch.device, n: int = 2048, repeats: int = 5) -> float:
    """float32 GFLOP/s of an n x n matrix product (2 n^3 FLOPs), best of ``repeats``."""
    a = torch.rand(n, n, device=device)
    b = torch.rand(n, n, device=device)
    out = torch.empty(n, n, device=device)

    def mm() -> None:
        torch.mm(a, b, out=out)
        if device.type == "cuda":
            torch.cuda.synchronize()

    return 2 * n**3 / _best_times({"mm": mm}, repeats)["mm"] / 1e9


def _vector_env_step_fn(mode: str, preset: str, num_envs: int, policy: str, device: str,
                        flops: list[float]) -> Callable[[], None]:
    """A function that steps a freshly reset vector env once with equal-allocation or random actions (MultiJob-v0,
    SplitChain-v0: every learner to a random choice its action mask allows), and appends that step's training FLOPs (tau x sum d_k x FLOPs per sample step, over the sub-envs) to ``flops``."""
    kwargs: dict[str, Any] = {"scenario": preset}
    if mode == "vector_entry_point":
        kwargs["device"] = device
    env_id = PRESET_ENV_IDS.get(preset, ENV_ID)
    env = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode=mode, **kwargs)
    env.reset(seed=0)
    problem = gym.make(env_id, scenario=preset).unwrapped.problem
    K, choices = problem.num_learners, problem.learner_choices
    per_sample = _flops_per_sample_step(preset)
    rng = np.random.default_rng(0)
    width = env.single_action_space.shape[0]  # a Box action's values
    zeros = np.zeros((num_envs, width), np.float32)

    def actions() -> np.ndarray:
        if choices:  # a random allowed choice each (a job, a chain slot)
            masks = (env.unwrapped.action_masks() if mode == "vector_entry_point"
                     else np.stack(env.call("action_masks")))[:, : K * choices].reshape(num_envs, K, choices)
            keys = np.where(masks, rng.random(masks.shape), -1.0)
            keys[..., 0] = np.where(masks[..., 1:].any(axis=-1), -1.0, 0.0)  # idle only when nothing is allowed
            return np.stack([problem.action_from_choices(row) for row in keys.argmax(axis=-1)])
        return zeros if policy == "equal" else rng.uniform(-1, 1, (num_envs, width)).astype(np.float32)

    def step() -> None:
        _, _, _, _, info = env.step(actions())
        if "job_tau" in info:  # each learner trains with its job's tau
            tau = np.take_along_axis(info["job_tau"], np.maximum(info["assignment"], 0), axis=1)
            work = (np.where(info["assignment"] >= 0, tau, 0) * info["task_sizes"]).sum(axis=1) * info["_tau"]
        else:
            work = info["tau"] * info["task_sizes"].sum(axis=1) * info["_tau"] if "tau" in info else np.zeros(1)
        flops.append(float(np.sum(work)) * per_sample)

    return step


#: The env each preset is benchmarked in (default: TaskAllocation-v0); a = 0 is equal allocation in each (the drone
#: hovers, nobody moves); in MultiJob-v0 every learner serves a random job it may serve.
PRESET_ENV_IDS = {"dynamic": "mel_gym/ReliableTaskAllocation-v0", "drone": "mel_gym/DroneOrchestrator-v0",
                  "relocation": "mel_gym/LearnerRelocation-v0", "multijob": "mel_gym/MultiJob-v0",
                  "chains": "mel_gym/SplitChain-v0", "multihop": "mel_gym/MultiHop-v0"}


def _flops_per_sample_step(preset: str) -> int:
    """FLOPs of one SGD step per sample of a scenario preset's model."""
    learning = load_scenario(preset).learning
    features, classes = DATASET_SHAPES[learning.dataset]
    return MLPSpec.build(features, learning.hidden_layers, classes).flops_per_sample_step


def vector_env_cases(quick: bool) -> list[tuple[str, int, str, int]]:
    """(preset, num_envs, policy, timed steps per mode)."""
    cases = []
    for n in (1, 16, 64) if quick else (1, 16, 64, 256):
        for policy in ("equal", "random"):
            cases.append(("default", n, policy, (8 if n <= 16 else 3) if quick else (25 if n <= 16 else 6)))
    for n in (1,) if quick else (1, 16, 64, 256):
        cases.append(("paper", n, "equal", 1 if quick or n >= 64 else 2))
    for n in (1, 16) if quick else (1, 16, 64):  # the dynamic world in ReliableTaskAllocation-v0
        cases.append(("dynamic", n, "equal", 3 if quick else (10 if n <= 16 else 4)))
    for preset in ("drone", "relocation"):  # DroneOrchestrator-v0 and LearnerRelocation-v0
        for n in (1, 16) if quick else (1, 16, 64):
            cases.append((preset, n, "equal", 3 if quick else (10 if n <= 16 else 4)))
    for n in (1, 16) if quick else (1, 16, 64):  # MultiJob-v0: every learner to a random job it may serve
        cases.append(("multijob", n, "random", 3 if quick else (10 if n <= 16 else 4)))
    for n in (1, 16) if quick else (1, 16, 64):  # SplitChain-v0: every learner to a random slot it may take
        cases.append(("chains", n, "random", 3 if quick else (10 if n <= 16 else 4)))
    for n in (1, 16) if quick else (1, 16, 64):  # MultiHop-v0: every learner to a random next hop it may take
        cases.append(("multihop", n, "random", 3 if quick else (10 if n <= 16 else 4)))
    for n in (1, 16) if quick else (1, 16, 64):  # TaskAllocation-v0 with a redistribution phase (a = 0: half the caps)
        cases.append(("redistribution", n, "equal", 3 if quick else (10 if n <= 16 else 4)))
    return cases


#: The learner counts of the scale rows (MultiHop-v0 with the shortest-path tree; the area grows with K).
SCALE_LEARNERS = (16, 1000)
#: ``--quick`` caps every scale row's learner count here (a check of the pipeline, not a measurement at scale).
QUICK_MAX_LEARNERS = 100


def scale_counts(counts: tuple[int, ...], quick: bool) -> tuple[int, ...]:
    """The learner counts a scale case measures: ``counts``, each capped at :data:`QUICK_MAX_LEARNERS` when quick."""
    return tuple(min(K, QUICK_MAX_LEARNERS) for K in counts) if quick else tuple(counts)

#: Scale rows of shipped presets: (env ID, preset, extra make kwargs, the baseline that plans each step, learner
#: counts). The world is the preset's with only ``num_learners`` changed (the cell stays, so density grows with K),
#: except that the multijob preset runs in PL mode: its FL jobs need a training sample of every job per learner,
#: and the digits hold only 729 samples of classes 0-4.
PRESET_SCALE_CASES = (
    ("mel_gym/ReliableTaskAllocation-v0", "dynamic", {}, "ha-sync", (10, 1000)),
    ("mel_gym/MultiJob-v0", "multijob", {"mode": "pl"}, "greedy-jobs", (10, 1000)),
)


def _scale_row(env_id: str, kwargs: dict[str, Any], policy_name: str, learners: int, steps: int,
               log: Callable[[str], None], label: str) -> dict[str, Any]:
    """Seconds to build (gym.make), reset (seed 0) and step (the median over ``steps`` cycles of the plan of
    ``policy_name`` plus the cycle) one env of ``learners`` learners."""
    from mel_gym.agents import make_policy

    started = time.perf_counter()
    env = gym.make(env_id, num_learners=learners, **kwargs)
    built = time.perf_counter() - started
    started = time.perf_counter()
    obs, _ = env.reset(seed=0)
    reset = time.perf_counter() - started
    policy = make_policy(policy_name, env.unwrapped.problem, env.action_space)
    times = []
    for _ in range(steps):
        started = time.perf_counter()
        obs, *_ = env.step(policy.predict(obs)[0])
        times.append(time.perf_counter() - started)
    env.close()
    step = float(np.median(times))
    log(f"  scale {label:<22s} K={learners:<5d} build {built:6.2f} s  reset {reset:6.3f} s  step (plan + cycle) "
        f"{step:6.3f} s")
    return {"env": env_id, "learners": learners, "build_s": built, "reset_s": reset, "step_s": step,
            "policy": policy_name}


def _log_scale_ratio(rows: list[dict[str, Any]], label: str, log: Callable[[str], None]) -> None:
    small, large = rows[0], rows[-1]
    ratio = (large["step_s"] / large["learners"]) / (small["step_s"] / small["learners"])
    log(f"  scale {label}: step time per learner at K={large['learners']} / at K={small['learners']}: x{ratio:.2f}")


def bench_scale(quick: bool, log: Callable[[str], None]) -> list[dict[str, Any]]:
    """Seconds to build, reset and step MultiHop-v0 (one env, the shortest-path tree's plan) at K = 16 and K = 1,000
    learners over an area whose density stays that of the preset, and the ratio per learner: the cost of a step
    should grow no faster than K (neighbour lists, not K x K loops)."""
    rows = []
    for K in scale_counts(SCALE_LEARNERS, quick):
        scale = float(np.sqrt(K / 16))
        rows.append(_scale_row("mel_gym/MultiHop-v0", dict(
            samples_per_cycle=max(600, K), learning={"partition": "iid"},
            placement={"max_distance_m": 300.0 * scale}, orchestrator={"range_m": 170.0 * scale}),
            "shortest-path-tree", K, 2 if quick else 5, log, "MultiHop-v0"))
    _log_scale_ratio(rows, "MultiHop-v0", log)
    return rows


def bench_preset_scale(quick: bool, log: Callable[[str], None]) -> list[dict[str, Any]]:
    """Seconds to build, reset and step the presets of :data:`PRESET_SCALE_CASES` (one env, a baseline's plan) at
    each learner count, and the step time per learner at the largest K over that at the smallest."""
    rows = []
    for env_id, preset, kwargs, policy, counts in PRESET_SCALE_CASES:
        label = f"{preset} ({env_id.split('/')[-1]})"
        case = [{**_scale_row(env_id, {"scenario": preset, **kwargs}, policy, K, 2 if quick else 5, log, label),
                 "preset": preset} for K in scale_counts(counts, quick)]
        _log_scale_ratio(case, label, log)
        rows += case
    return rows


def bench_vector_env(quick: bool, device: str, log: Callable[[str], None]) -> list[dict[str, Any]]:
    """Native vector env against SyncVectorEnv, stepped in turns through the same steps (:func:`_best_times`)."""
    rows = []
    for preset, n, policy, steps in vector_env_cases(quick):
        flops: dict[str, list[float]] = {"vector_entry_point": [], "sync": []}
        fns = {mode: _vector_env_step_fn(mode, preset, n, policy, device if mode != "sync" else "cpu", flops[mode])
               for mode in ("vector_entry_point", "sync")}
        spent = _best_times(fns, steps, total=True)  # same seeds and actions: the same steps in both modes
        native, sync = n * steps / spent["vector_entry_point"], n * steps / spent["sync"]
        # training work per second (the warm-up step is not timed): how close each mode runs to the FLOP limit
        gflops = {mode: sum(flops[mode][1:]) / spent[mode] / 1e9 for mode in fns}
        rows.append({"preset": preset, "num_envs": n, "policy": policy, "native_steps_per_s": native,
                     "sync_steps_per_s": sync, "speedup": native / sync,
                     "native_train_gflops": gflops["vector_entry_point"], "sync_train_gflops": gflops["sync"]})
        log(f"  vector env {preset:8s} N={n:<4d} {policy:7s} native {native:9.1f}  sync {sync:8.1f}  "
            f"x{native / sync:.1f}  training GFLOP/s {gflops['vector_entry_point']:.1f} / {gflops['sync']:.1f}")
        del fns
        gc.collect()
    return rows


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def run_bench(quick: bool = False, device: str = "cpu", torch_threads: int | None = None,
              log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run every measurement; returns the report (see the module docstring)."""
    if torch_threads is not None:
        torch.set_num_threads(torch_threads)
    dev = resolve_device(device)
    started = time.perf_counter()
    log(f"mel-gym bench ({'quick' if quick else 'full'}) on {dev} ({platform.processor() or platform.machine()}), "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    with progress.task(f"bench ({'quick' if quick else 'full'})", 5, "parts"):
        peak = sgemm_peak_gflops(dev, n=2048 if quick else 4096)
        log(f"  sgemm peak {peak:.1f} GFLOP/s")
        progress.advance()
        trainer_rows = []
        for w in trainer_workloads(quick):
            row = bench_trainer(w, dev, repeats=3 if quick else 5)
            trainer_rows.append(row)
            log(f"  trainer {w.name:22s} loop {row['loop_steps_per_s']:9.0f}  batched "
                f"{row['batched_steps_per_s']:9.0f} learner-steps/s  x{row['speedup']:.1f}  {row['gflops']:.1f} "
                f"GFLOP/s ({row['kernel']} kernel)")
        peak_after_trainer = peak_rss_mb()
        progress.advance()
        vector_rows = bench_vector_env(quick, str(dev), log)
        progress.advance()
        scale_rows = bench_scale(quick, log)
        progress.advance()
        preset_scale_rows = bench_preset_scale(quick, log)
        progress.advance()
    report = {
        "quick": quick, "device": str(dev), "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
        "machine": platform.platform(), "sgemm_peak_gflops": peak, "trainer": trainer_rows,
        "vector_env": vector_rows, "scale": scale_rows, "scale_presets": preset_scale_rows,
        "peak_rss_mb": peak_rss_mb(), "peak_rss_mb_after_trainer": peak_after_trainer,
        "seconds": time.perf_counter() - started,
    }
    log(f"  peak RSS {report['peak_rss_mb']:.0f} MB ({peak_after_trainer:.0f} MB after the trainer part); "
        f"{report['seconds']:.0f} s in all")
    return report


def format_report(report: dict[str, Any]) -> str:
    """Markdown tables of a bench report."""
    lines = [f"Device: {report['device']}, torch {report['torch']}, {report['torch_threads']} threads; "
             f"sgemm peak {report['sgemm_peak_gflops']:.1f} GFLOP/s; peak RSS {report['peak_rss_mb']:.0f} MB.", "",
             "| trainer workload | loop learner-steps/s | batched learner-steps/s | speedup | GFLOP/s (% of sgemm) |",
             "|---|---|---|---|---|"]
    for r in report["trainer"]:
        share = 100 * r["gflops"] / report["sgemm_peak_gflops"]
        lines.append(f"| {r['workload']} | {r['loop_steps_per_s']:,.0f} | {r['batched_steps_per_s']:,.0f} | "
                     f"{r['speedup']:.1f}x | {r['gflops']:.1f} ({share:.0f}%) |")
    lines += ["", "| preset | N | actions | native env-steps/s | SyncVectorEnv env-steps/s | speedup | "
              "training GFLOP/s native / sync |", "|---|---|---|---|---|---|---|"]
    for r in report["vector_env"]:
        lines.append(f"| {r['preset']} | {r['num_envs']} | {r['policy']} | {r['native_steps_per_s']:,.1f} | "
                     f"{r['sync_steps_per_s']:,.1f} | {r['speedup']:.1f}x | "
                     f"{r['native_train_gflops']:.1f} / {r['sync_train_gflops']:.1f} |")
    scale = report.get("scale", []) + report.get("scale_presets", [])
    if scale:
        lines += ["", "| env | preset | learners K | build s | reset s | step s (plan + cycle) |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {r['env']} | {r.get('preset', '')} | {r['learners']:,} | {r['build_s']:.2f} | "
                  f"{r['reset_s']:.3f} | {r['step_s']:.3f} |" for r in scale]
    return "\n".join(lines)


def write_report(path: str | Path, report: dict[str, Any]) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(report, indent=1))
