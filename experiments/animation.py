"""``mel-gym episode --gif``: one episode as an animated GIF of the env's ``rgb_array`` frames, one frame per cycle;
with ``--compare`` two policies side by side on the same seed (the same world, the same learners).

Each panel is the env's map (:func:`mel_gym.envs.render.render_rgb`) under a header with the policy's name; a
policy whose episode ended first (a drone's battery) keeps its last frame, marked "(ended)", while the other plays
on. GIFs are written with Pillow (a matplotlib dependency).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from mel_gym.experiments import progress
from mel_gym.experiments.common import env_kwargs_with, make_env
from mel_gym.experiments.episodes import planned_cycles
from mel_gym.experiments.evaluate import episode_policy

#: Height in pixels of the header with the policy's name above each panel.
HEADER_PX = 24


@dataclass
class PlayedEpisode:
    """One policy's episode: its ``rgb_array`` frames (one per cycle), final test accuracy, return."""

    policy: str
    frames: list[np.ndarray]
    final_accuracy: float
    episode_return: float


def play_episode(env_id: str, policy: str, seed: int, scenario: str | None = None,
                 env_kwargs: dict[str, Any] | None = None, device: str = "cpu") -> PlayedEpisode:
    """Play one episode of ``policy`` (a baseline name or a saved agent path) from env seed ``seed`` and keep the
    ``rgb_array`` frame rendered after each step."""
    env = make_env(env_id, scenario, env_kwargs, render_mode="rgb_array", device=device)
    try:
        agent = episode_policy(policy, env_id, env_kwargs_with(scenario, env_kwargs), env.unwrapped.problem,
                               env.action_space, seed, device=device)
        obs, info = env.reset(seed=seed)
        frames, total, done = [], 0.0, False
        with progress.task(f"episode of {policy} on seed {seed}, one frame per cycle", planned_cycles(env), "cycles"):
            while not done:
                action, _ = agent.predict(obs, deterministic=True)
                obs, reward, terminated, truncated, info = env.step(action)
                total += float(reward)
                frames.append(env.render())
                done = terminated or truncated
                progress.advance(1)
    finally:
        env.close()
    return PlayedEpisode(policy, frames, float(info["test_accuracy"]), total)


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)  # a scalable font where Pillow has FreeType
    except (TypeError, ValueError, OSError, ImportError):
        return ImageFont.load_default()


def with_header(frame: np.ndarray, text: str, height: int = HEADER_PX) -> np.ndarray:
    """``frame`` (H, W, 3) uint8 with a white band of ``height`` pixels on top carrying ``text``, centred."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (frame.shape[1], frame.shape[0] + height), "white")
    image.paste(Image.fromarray(frame), (0, height))
    draw = ImageDraw.Draw(image)
    font = _font(max(height - 9, 8))
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    draw.text(((frame.shape[1] - (right - left)) / 2 - left, (height - (bottom - top)) / 2 - top), text,
              fill="black", font=font)
    return np.asarray(image)


def side_by_side(episodes: Sequence[PlayedEpisode]) -> list[np.ndarray]:
    """One frame per cycle of the longest episode: the episodes' frames under their policy's name, concatenated
    horizontally; a shorter episode repeats its last frame, marked "(ended)"."""
    length = max(len(e.frames) for e in episodes)
    out = []
    for t in range(length):
        panels = []
        for e in episodes:
            ended = t >= len(e.frames)
            frame = e.frames[min(t, len(e.frames) - 1)]
            panels.append(with_header(frame, e.policy + ("  (ended)" if ended else "")))
        out.append(np.concatenate(panels, axis=1))
    return out


def write_gif(frames: Sequence[np.ndarray], path: str | Path, fps: float = 2.0) -> None:
    """Write ``frames`` ((H, W, 3) uint8, all the same shape) as a looping GIF at ``fps`` frames per second."""
    from PIL import Image

    if not frames:
        raise ValueError("no frames to write")
    if fps <= 0:
        raise ValueError(f"--fps {fps:g} must be > 0")
    images = [Image.fromarray(np.ascontiguousarray(f)) for f in frames]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    images[0].save(path, format="GIF", save_all=True, append_images=images[1:], duration=round(1000.0 / fps),
                   loop=0)


def animate_episode(env_id: str, policies: Sequence[str], seed: int, path: str | Path, scenario: str | None = None,
                    env_kwargs: dict[str, Any] | None = None, fps: float = 2.0,
                    device: str = "cpu") -> list[PlayedEpisode]:
    """Play one episode of each of ``policies`` (one, or two for a side-by-side comparison) on env seed ``seed``
    and write the animated GIF to ``path``; returns the episodes."""
    if not 1 <= len(policies) <= 2:
        raise ValueError(f"animate one policy or compare two, not {len(policies)}")
    with progress.task(f"episode GIF of {' vs '.join(policies)} -> {path}", unit=None):
        episodes = [play_episode(env_id, p, seed, scenario, env_kwargs, device) for p in policies]
        write_gif(side_by_side(episodes), path, fps)
    return episodes
