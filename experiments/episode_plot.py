"""``mel-gym episode``: one episode of one policy in pictures: where the learners walked, which links failed,
what the predictor said beforehand, and the test accuracy.

The figure has four panels: (a) the learners' paths over the episode in the area, with the cell's edge (beyond
it a learner is out of coverage) and the cycles where each learner's link failed; (b) the predicted outage
probability of every learner in every cycle (colour) with the realised outages (x); (c) predicted against realised
over the episode's learner-cycles, binned (a calibration plot); (d) the test accuracy and tau per cycle.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mel_gym.experiments.common import env_kwargs_with, make_env
from mel_gym.experiments.evaluate import episode_policy


def record_episode(env_id: str, policy: str, seed: int, scenario: str | None = None,
                   env_kwargs: dict[str, Any] | None = None) -> dict[str, np.ndarray]:
    """Play one episode and keep, per cycle (rows): positions (cycles, K, 2), predicted outage and compute-drop
    probabilities and the realised ``outage`` and ``compute_dropped`` (cycles, K), in coverage, test accuracy
    and tau (cycles,)."""
    env = make_env(env_id, scenario, env_kwargs)
    problem = env.unwrapped.problem
    agent = episode_policy(policy, env_id, env_kwargs_with(scenario, env_kwargs), problem, env.action_space, seed)
    obs, _ = env.reset(seed=seed)
    keep: dict[str, list] = {k: [] for k in ("position_m", "outage_probability", "compute_drop_probability", "outage",
                                             "compute_dropped", "in_coverage", "test_accuracy", "tau")}
    done = False
    while not done:
        decoded = problem.world_view(obs)  # the world's part of any env's observation
        for key in ("position_m", "outage_probability", "compute_drop_probability", "in_coverage"):
            keep[key].append(getattr(decoded, key))
        action, _ = agent.predict(obs, deterministic=True)
        obs, _, terminated, truncated, info = env.step(action)
        for key in ("outage", "compute_dropped", "test_accuracy", "tau"):
            keep[key].append(info[key])
        done = terminated or truncated
    record = {k: np.asarray(v) for k, v in keep.items()}
    record["cell_radius_m"] = np.asarray(env.unwrapped.scenario.placement.max_distance_m)
    record["area_radius_m"] = np.asarray(env.unwrapped.scenario.area_radius_m)
    env.close()
    return record


def plot_episode(record: dict[str, np.ndarray], path: str | Path, title: str = "") -> None:
    """Write the four-panel figure of :func:`record_episode`'s record to ``path`` (PNG)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 8.5), dpi=100)
    FigureCanvasAgg(fig)
    (ax_map, ax_heat), (ax_cal, ax_acc) = fig.subplots(2, 2)
    pos, outage = record["position_m"], record["outage"]
    cycles, K = outage.shape
    colours = [f"C{k % 10}" for k in range(K)]
    angle = np.linspace(0, 2 * np.pi, 200)
    for radius, style in ((float(record["cell_radius_m"]), "-"), (float(record["area_radius_m"]), ":")):
        ax_map.plot(radius * np.cos(angle), radius * np.sin(angle), color="gray", linestyle=style, linewidth=0.8)
    for k in range(K):
        ax_map.plot(pos[:, k, 0], pos[:, k, 1], color=colours[k], linewidth=1.0)
        ax_map.scatter(pos[0, k, 0], pos[0, k, 1], color=colours[k], s=12)
        failed = outage[:, k]
        ax_map.scatter(pos[failed, k, 0], pos[failed, k, 1], color=colours[k], marker="x", s=25)
    ax_map.scatter([0], [0], marker="^", color="red", s=80)
    ax_map.set_aspect("equal")
    ax_map.set_title("(a) paths (dot: start, x: link failed), cell edge (solid)", fontsize=9)
    ax_map.set_xlabel("x (m)")
    ax_map.set_ylabel("y (m)")

    image = ax_heat.imshow(record["outage_probability"].T, aspect="auto", origin="lower", cmap="Reds", vmin=0, vmax=1)
    c, k = np.nonzero(outage)
    ax_heat.scatter(c, k, marker="x", color="black", s=18)
    fig.colorbar(image, ax=ax_heat, label="predicted outage probability")
    ax_heat.set_xlabel("global cycle")
    ax_heat.set_ylabel("learner")
    ax_heat.set_title("(b) predicted outage (colour) and realised outages (x)", fontsize=9)

    predicted, realised = record["outage_probability"].ravel(), outage.ravel().astype(float)
    edges = np.linspace(0, 1, 6)
    which = np.clip(np.digitize(predicted, edges) - 1, 0, len(edges) - 2)
    xs, ys, ns = [], [], []
    for b in range(len(edges) - 1):
        sel = which == b
        if sel.any():
            xs.append(predicted[sel].mean())
            ys.append(realised[sel].mean())
            ns.append(int(sel.sum()))
    ax_cal.plot([0, 1], [0, 1], color="gray", linestyle="--", linewidth=0.8)
    ax_cal.scatter(xs, ys, s=[10 + n for n in ns])
    for x, y, n in zip(xs, ys, ns):
        ax_cal.annotate(str(n), (x, y), fontsize=7, xytext=(4, -8), textcoords="offset points")
    ax_cal.set_xlim(0, 1)
    ax_cal.set_ylim(0, 1)
    ax_cal.set_xlabel("predicted outage probability (bin mean)")
    ax_cal.set_ylabel("realised outage frequency")
    ax_cal.set_title(f"(c) this episode's {predicted.size} learner-cycles, binned (size: count)", fontsize=9)

    x = np.arange(1, cycles + 1)
    ax_acc.plot(x, record["test_accuracy"], color="C0", label="test accuracy")
    ax_acc.set_ylim(0, 1)
    ax_acc.set_xlabel("global cycle")
    ax_acc.set_ylabel("test accuracy")
    twin = ax_acc.twinx()
    twin.bar(x, record["tau"], color="C1", alpha=0.3, label="tau")
    twin.set_ylabel("tau")
    ax_acc.set_title("(d) test accuracy (line) and tau (bars)", fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
