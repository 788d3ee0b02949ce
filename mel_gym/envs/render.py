"""Rendering of the task-allocation envs: a text table (``ansi``) and a map of the area (``rgb_array``).

Both draw from the decoded observation only (:class:`~mel_gym.envs.observation.DecodedObservation`), so they show
what the agent sees. The map is drawn headless with matplotlib's Agg canvas, at a fixed size (:data:`FRAME_SIZE_PX`)
whatever the state, so the frames of an episode can be stacked into a video or a GIF.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from mel_gym.envs.observation import DecodedObservation

#: (width, height) of an ``rgb_array`` frame in pixels; both multiples of 16, which video encoders want.
FRAME_SIZE_PX = (368, 320)
_DPI = 80
#: A link's line width in points: 0.5 + log2(1 + rate / 1 Mbit/s), at most 6 (1 Mbit/s: 1.5 pt, 7: 3.5, 31: 5.5).
LINK_RATE_UNIT_BPS = 1e6
LINK_WIDTH_MAX_PT = 6.0


def link_width_pt(rate_bps: np.ndarray) -> np.ndarray:
    """Line width (points) of a link of uplink rate ``rate_bps``: 0.5 + log2(1 + rate / 1 Mbit/s), capped at 6.

    A fixed scale (not relative to the frame's best link), so widths compare across frames and envs."""
    rate = np.maximum(np.nan_to_num(np.asarray(rate_bps, dtype=np.float64)), 0.0)
    return np.minimum(0.5 + np.log2(1.0 + rate / LINK_RATE_UNIT_BPS), LINK_WIDTH_MAX_PT)


def render_ansi(decoded: DecodedObservation, tau: int | None) -> str:
    """A table of learners: ground distance to the point below the orchestrator, down/up rates, CPU, battery and
    previous share, after a line with the global state and the orchestrator's position."""
    orchestrator = np.asarray(decoded.orchestrator_m, dtype=np.float64)
    header = (f"cycle {int(decoded.cycle)}  tau {tau if tau is not None else '-'}  "
              f"val acc {float(decoded.val_accuracy):.3f}  val loss {float(decoded.val_loss):.3f}  "
              f"orchestrator ({orchestrator[0]:.1f}, {orchestrator[1]:.1f}) m, height {orchestrator[2]:.0f} m")
    lines = [header, " k  dist_m  down_Mbps  up_Mbps  cpu_GHz  battery  share"]
    distance = np.linalg.norm(decoded.position_m - orchestrator[:2], axis=-1)
    for k in range(distance.shape[-1]):
        lines.append(f"{k:2d} {distance[k]:7.1f} {decoded.rate_down_bps[k] / 1e6:10.2f} "
                     f"{decoded.rate_up_bps[k] / 1e6:8.2f} {decoded.cpu_hz[k] / 1e9:8.2f} "
                     f"{decoded.battery_fraction[k]:8.2f} {decoded.previous_share[k]:6.3f}")
    return "\n".join(lines)


def _circle(ax, centre: Sequence[float], radius: float, **style) -> None:
    from matplotlib.patches import Circle

    ax.add_patch(Circle((float(centre[0]), float(centre[1])), radius, **style))


def render_rgb(decoded: DecodedObservation, tau: int | None, area_radius_m: float, coverage_radius_m: float, *,
               trail: np.ndarray | None = None, last_cycle: DecodedObservation | None = None,
               color_by: str = "outage", drone: bool = False, chains: list[np.ndarray] | None = None,
               routes: np.ndarray | None = None) -> np.ndarray:
    """(H, W, 3) uint8 map of the area (H, W = :data:`FRAME_SIZE_PX` reversed), drawn after a step (or a reset).

    What it shows:

    - the area: the grey disc of ``area_radius_m`` around the origin, where learners (and a drone) can be;
    - the orchestrator (red triangle) at ``decoded.orchestrator_m[:2]``, where the coming cycle runs, with its
      coverage circle (dashed, ``coverage_radius_m`` on the ground around the point below it): only learners
      inside can take part; ``trail`` (N, 2), the orchestrator's positions since the reset, is drawn as a blue
      line with a dot per cycle (a fixed orchestrator's trail is a single point);
    - each learner at ``decoded.position_m``, sized by its task in the last cycle (``previous_share``, the
      share d_k / d of the samples; the smallest dots took no part). Colour rule: ``color_by="battery"`` (the
      envs choose it when the scenario has learner batteries): battery fraction left, red (empty) to green
      (full), with a red ring as strong as the predicted outage probability; ``color_by="outage"`` (no
      batteries): the predicted outage probability of its link in the coming cycle, green (0) to red (1).
      Learners that cannot take part (out of coverage, battery empty or CPU frozen) are grey crosses;
    - a link (black line) for every learner that took part in the last cycle (``previous_share`` > 0), from
      where the orchestrator was during that cycle (``last_cycle.orchestrator_m``; for a drone, the trail's
      last dot before its current position) to the learner, of line width :func:`link_width_pt` of the uplink
      rate that cycle was planned with (``last_cycle.rate_up_bps``). Without ``last_cycle`` the links start at
      the current position with the current rates.

    - ``chains`` (SplitChain-v0): each chain's members in stage order, as learner indices (n,), drawn as a coloured
      path over the D2D links from the head (a square) to the last stage, each member labelled with its first stage.
    - ``routes`` (MultiHop-v0): the last cycle's next hop of every learner (K,) (-2 none, -1 the orchestrator, j a
      learner), drawn as arrows along the tree in place of the star's links; learners out of range that can work
      are drawn as learners, not grey crosses.

    The title has the cycle, tau and validation accuracy, and with ``drone=True`` the drone's battery left.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    if color_by not in ("battery", "outage"):
        raise ValueError(f"color_by={color_by!r} must be 'battery' or 'outage'")
    width_px, height_px = FRAME_SIZE_PX
    fig = Figure(figsize=(width_px / _DPI, height_px / _DPI), dpi=_DPI)
    FigureCanvasAgg(fig)
    # fixed axes rectangles: no automatic layout, so every frame has the same geometry
    ax = fig.add_axes((0.12, 0.1, 0.68, 0.78))
    cax = fig.add_axes((0.84, 0.1, 0.03, 0.78))

    here = np.asarray(decoded.orchestrator_m, dtype=np.float64)[:2]
    pos = np.asarray(decoded.position_m, dtype=np.float64)
    share = np.asarray(decoded.previous_share, dtype=np.float64)
    alive = np.asarray(decoded.available if routes is None else decoded.can_work, dtype=bool)

    _circle(ax, (0.0, 0.0), area_radius_m, facecolor="#f2f2f2", edgecolor="gray", linewidth=0.8, zorder=0)
    _circle(ax, here, coverage_radius_m, fill=False, edgecolor="tab:red", linestyle="--", linewidth=0.8, zorder=1)

    source = decoded if last_cycle is None else last_cycle
    origin = np.asarray(source.orchestrator_m, dtype=np.float64)[:2]
    widths = link_width_pt(source.rate_up_bps)
    for k in np.flatnonzero(share > 0) if routes is None else ():
        ax.plot([origin[0], pos[k, 0]], [origin[1], pos[k, 1]], color="black", alpha=0.6,
                linewidth=float(widths[k]), solid_capstyle="round", zorder=2)

    for c, members in enumerate(chains or []):
        path = pos[np.asarray(members, dtype=np.int64)]
        colour = f"C{c % 10}"
        ax.plot(path[:, 0], path[:, 1], color=colour, linewidth=2.5, alpha=0.85, zorder=3)
        ax.scatter(path[:1, 0], path[:1, 1], s=160, marker="s", facecolors="none", edgecolors=colour, linewidths=2.0,
                   zorder=5)

    if routes is not None:
        hops = np.asarray(routes, dtype=np.int64)
        for k in np.flatnonzero(hops >= -1):
            end = origin if hops[k] == -1 else pos[hops[k]]
            ax.annotate("", xy=(float(end[0]), float(end[1])), xytext=(float(pos[k, 0]), float(pos[k, 1])),
                        arrowprops=dict(arrowstyle="-|>", color="tab:purple" if hops[k] >= 0 else "black",
                                        linewidth=1.6, alpha=0.8, shrinkA=4, shrinkB=4), zorder=3)

    if trail is not None and len(trail) > 0:
        path = np.asarray(trail, dtype=np.float64).reshape(-1, 2)
        ax.plot(path[:, 0], path[:, 1], color="tab:blue", linewidth=1.2, alpha=0.7, marker="o", markersize=2.5,
                zorder=3)

    if color_by == "battery":
        value, cmap, label = decoded.battery_fraction, "RdYlGn", "battery left (fraction)"
        rings = [(1.0, 0.0, 0.0, float(np.clip(p, 0.0, 1.0))) for p in decoded.outage_probability[alive]]
    else:
        value, cmap, label = decoded.outage_probability, "RdYlGn_r", "predicted outage probability"
        rings = "black"
    norm = Normalize(vmin=0.0, vmax=1.0)
    size = 18.0 + 500.0 * np.clip(share, 0.0, 1.0)
    ax.scatter(pos[alive, 0], pos[alive, 1], s=size[alive], c=np.clip(value[alive], 0.0, 1.0), cmap=cmap, norm=norm,
               edgecolors=rings, linewidths=1.5 if color_by == "battery" else 0.5, zorder=4)
    ax.scatter(pos[~alive, 0], pos[~alive, 1], s=size[~alive], c="darkgray", marker="x", linewidths=1.2, zorder=4)
    ax.scatter([here[0]], [here[1]], s=130, c="red", marker="^", edgecolors="black", linewidths=0.8, zorder=5)

    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), cax=cax)
    cax.tick_params(labelsize=6)
    cax.set_ylabel(label, fontsize=7)
    limit = 1.05 * area_radius_m
    ax.set_xlim(-limit, limit)
    ax.set_ylim(-limit, limit)
    ax.set_aspect("equal", adjustable="box")
    ax.tick_params(labelsize=6)
    ax.set_xlabel("x (m)   dot size: task, line width: uplink rate", fontsize=7)
    ax.set_ylabel("y (m)", fontsize=7)
    title = (f"cycle {int(decoded.cycle)}  tau {tau if tau is not None else '-'}  "
             f"val acc {float(decoded.val_accuracy):.2f}")
    if drone:
        title += f"  drone battery {float(decoded.orchestrator_battery_fraction):.0%}"
    ax.set_title(title, fontsize=8)
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
