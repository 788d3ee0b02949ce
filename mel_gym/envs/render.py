"""Rendering of the task-allocation envs: a text table (``ansi``) and a map of the cell (``rgb_array``)."""

from __future__ import annotations

import numpy as np

from mel_gym.envs.observation import DecodedObservation


def render_ansi(decoded: DecodedObservation, tau: int | None) -> str:
    """A table of learners: distance, down/up rates, CPU, battery and previous share, then the global state."""
    lines = [f"cycle {int(decoded.cycle)}  tau {tau if tau is not None else '-'}  "
             f"test acc {float(decoded.test_accuracy):.3f}  test loss {float(decoded.test_loss):.3f}",
             " k  dist_m  down_Mbps  up_Mbps  cpu_GHz  battery  share"]
    distance = np.linalg.norm(decoded.position_m, axis=-1)
    for k in range(distance.shape[-1]):
        lines.append(f"{k:2d} {distance[k]:7.1f} {decoded.rate_down_bps[k] / 1e6:10.2f} "
                     f"{decoded.rate_up_bps[k] / 1e6:8.2f} {decoded.cpu_hz[k] / 1e9:8.2f} "
                     f"{decoded.battery_fraction[k]:8.2f} {decoded.previous_share[k]:6.3f}")
    return "\n".join(lines)


def render_rgb(decoded: DecodedObservation, tau: int | None, area_radius_m: float, cell_radius_m: float) -> np.ndarray:
    """(H, W, 3) uint8 map: the orchestrator at the centre, the cell's edge, learners coloured by CPU, sized by their
    share, ringed in red by their predicted outage probability."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4, 4), dpi=80)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    pos = decoded.position_m
    alive = decoded.available
    size = 20 + 600 * decoded.previous_share
    ax.scatter(pos[alive, 0], pos[alive, 1], s=size[alive], c=decoded.cpu_hz[alive] / 1e9, cmap="viridis",
               vmin=0.5, vmax=2.5, edgecolors=[(1.0, 0.0, 0.0, p) for p in decoded.outage_probability[alive]],
               linewidths=2)
    angle = np.linspace(0.0, 2.0 * np.pi, 100)
    ax.plot(cell_radius_m * np.cos(angle), cell_radius_m * np.sin(angle), color="gray", linewidth=0.8)
    ax.scatter(pos[~alive, 0], pos[~alive, 1], s=20, c="lightgray", marker="x")
    ax.scatter([0], [0], s=120, c="red", marker="^")
    ax.set_xlim(-area_radius_m, area_radius_m)
    ax.set_ylim(-area_radius_m, area_radius_m)
    ax.set_aspect("equal")
    ax.set_title(f"cycle {int(decoded.cycle)}  tau {tau if tau is not None else '-'}  "
                 f"acc {float(decoded.test_accuracy):.2f}", fontsize=9)
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
