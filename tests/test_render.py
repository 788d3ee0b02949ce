"""Pictures: rgb_array frames of every env (the drone's at its real position, with its trail), Gymnasium's
RecordVideo writing an MP4 headless, and the animated GIF of ``mel-gym episode --gif``."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.wrappers import RecordVideo
from PIL import Image

import mel_gym  # noqa: F401 - registers the env IDs
from mel_gym.envs.render import FRAME_SIZE_PX, link_width_pt
from mel_gym.experiments.cli import main
from mel_gym.registration import ENV_IDS

DRONE = "mel_gym/DroneOrchestrator-v0"
RELOCATION = "mel_gym/LearnerRelocation-v0"
FRAME_SHAPE = (FRAME_SIZE_PX[1], FRAME_SIZE_PX[0], 3)


def red_marker_x(frame: np.ndarray) -> float:
    """Mean column of the pure-red pixels: the orchestrator's marker (nothing else is drawn in pure red without
    learner batteries)."""
    red = (frame[..., 0] == 255) & (frame[..., 1] == 0) & (frame[..., 2] == 0)
    assert red.sum() > 20
    return float(np.nonzero(red)[1].mean())


def check_frame(frame) -> None:
    assert isinstance(frame, np.ndarray) and frame.dtype == np.uint8 and frame.shape == FRAME_SHAPE


def test_drone_frames_follow_the_drone_with_a_constant_shape():
    env = gym.make(DRONE, render_mode="rgb_array", horizon_cycles=3)
    obs, _ = env.reset(seed=0)
    K = env.unwrapped.scenario.num_learners
    frames = [env.render()]
    east = np.concatenate([np.zeros(K), [1.0, 0.0]]).astype(np.float32)  # equal shares, full speed along +x
    for _ in range(2):
        obs, *_ = env.step(east)
        frames.append(env.render())
    for frame in frames:
        check_frame(frame)
    trail = env.unwrapped.orchestrator_trail
    assert trail.shape == (3, 2) and trail[1, 0] > trail[0, 0] + 100  # it flew east ...
    np.testing.assert_allclose(trail[-1], env.unwrapped.problem.decode(obs).orchestrator_m[:2])
    assert not np.array_equal(frames[0], frames[1])
    assert red_marker_x(frames[1]) > red_marker_x(frames[0]) + 30  # ... and its marker with it
    env.reset(seed=1)
    assert env.unwrapped.orchestrator_trail.shape == (1, 2)  # the trail restarts at a reset
    check_frame(env.render())


def test_relocation_frames_have_a_constant_shape_and_show_the_moves():
    env = gym.make(RELOCATION, render_mode="rgb_array", horizon_cycles=3)
    env.reset(seed=0)
    K = env.unwrapped.scenario.num_learners
    frames = [env.render()]
    move = np.concatenate([np.zeros(K), np.ones(K), np.zeros(K)]).astype(np.float32)  # controllable ones go +x
    for _ in range(2):
        _, _, _, _, info = env.step(move)
        assert info["moved_m"].max() > 0
        frames.append(env.render())
    for frame in frames:
        check_frame(frame)
    assert not np.array_equal(frames[1], frames[2])
    np.testing.assert_array_equal(env.unwrapped.orchestrator_trail, np.zeros((3, 2)))  # a fixed orchestrator


@pytest.mark.parametrize("env_id", list(ENV_IDS))
def test_every_env_renders_a_map_and_a_table_relative_to_the_orchestrator(env_id):
    env = gym.make(env_id, render_mode="rgb_array", horizon_cycles=3)
    env.action_space.seed(0)
    env.reset(seed=0)
    check_frame(env.render())
    env.step(env.action_space.sample())
    check_frame(env.render())

    env = gym.make(env_id, render_mode="ansi", horizon_cycles=3)
    env.action_space.seed(0)
    obs, _ = env.reset(seed=0)
    obs, *_ = env.step(env.action_space.sample())
    decoded = env.unwrapped.problem.decode(obs)
    decoded = getattr(decoded, "world", decoded)  # MultiJob-v0: the world part of its observation
    rows = env.render().splitlines()[2:]
    distance = [float(row.split()[1]) for row in rows]
    expected = np.linalg.norm(decoded.position_m - decoded.orchestrator_m[:2], axis=-1)
    np.testing.assert_allclose(distance, expected, atol=0.06)


def test_link_width_grows_with_the_rate_on_a_fixed_scale():
    width = link_width_pt(np.array([0.0, 1e6, 7e6, 1e12, np.nan]))
    np.testing.assert_allclose(width, [0.5, 1.5, 3.5, 6.0, 0.5])


def test_record_video_writes_an_mp4_headless(tmp_path, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    env = RecordVideo(gym.make(DRONE, render_mode="rgb_array", horizon_cycles=3), str(tmp_path / "videos"),
                      episode_trigger=lambda episode: True, disable_logger=True)
    env.action_space.seed(0)
    env.reset(seed=0)
    done = False
    while not done:
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        done = terminated or truncated
    env.close()
    videos = list((tmp_path / "videos").glob("*.mp4"))
    assert len(videos) == 1 and videos[0].stat().st_size > 1000

    import imageio_ffmpeg

    frames, _ = imageio_ffmpeg.count_frames_and_secs(str(videos[0]))
    assert frames == 4  # the reset's frame and one per cycle


def test_episode_gif_compares_two_policies_side_by_side(tmp_path, capsys):
    gif = tmp_path / "anim" / "drone.gif"
    assert main(["episode", DRONE, "--policy", "random", "--compare", "greedy-flight", "--gif", str(gif),
                 "--env-kwarg", "horizon_cycles=3", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "random: 3 cycles" in out and "greedy-flight: 3 cycles" in out and f"wrote {gif}" in out
    assert not (tmp_path / "episode.png").exists()
    with Image.open(gif) as image:
        assert image.n_frames == 3  # one frame per cycle
        assert image.size[0] == 2 * FRAME_SIZE_PX[0] and image.size[1] > FRAME_SIZE_PX[1]


def test_episode_compare_needs_a_gif(capsys):
    assert main(["episode", DRONE, "--compare", "hover", "--env-kwarg", "horizon_cycles=3"]) == 2
    assert "--compare needs --gif" in capsys.readouterr().err
