"""The mel-gym command line as a user runs it."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from mel_gym.experiments.cli import main
from mel_gym.agents.registry import make_policy
from mel_gym.experiments.common import make_env, parse_env_kwargs

MEL_GYM = str(Path(sys.executable).parent / "mel-gym")
SMALL_ARGS = ["--env-kwarg", "num_learners=4", "--env-kwarg", "samples_per_cycle=400", "--env-kwarg", "horizon_cycles=4"]


@pytest.mark.parametrize("command", [[], ["train"], ["evaluate"], ["run"], ["bench"], ["reproduce"], ["download"],
                                     ["scenario"], ["envs"], ["episode"]])
def test_help_of_every_command(command):
    out = subprocess.run([MEL_GYM, *command, "--help"], capture_output=True, text=True, check=True)
    assert "usage: mel-gym" in out.stdout


def test_help_answers_without_torch_and_lists_every_preset_and_policy():
    code = ("import sys\nfrom mel_gym.experiments.cli import main\n"
            "for cmd in (['--help'], ['train', '--help'], ['evaluate', '--help'], ['reproduce', '--help']):\n"
            "    try:\n        main(cmd)\n    except SystemExit:\n        pass\n"
            "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("NO-TORCH")
    from mel_gym.agents.registry import BASELINE_NAMES
    from mel_gym.paths import preset_names

    text = "".join(out.split())  # argparse wraps lines, also after hyphens
    for name in (*BASELINE_NAMES, *preset_names("scenarios"), *preset_names("agents"), "td3"):
        assert name in text, name


def test_parse_env_kwargs():
    assert parse_env_kwargs(["reward.metric=accuracy", "mode=fl", "reward.scale=2", "learning.hidden_layers=[8, 8]"]) == {
        "reward": {"metric": "accuracy", "scale": 2}, "mode": "fl", "learning": {"hidden_layers": [8, 8]}}
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_env_kwargs(["novalue"])


def test_train_then_evaluate_with_baselines(tmp_path, capsys):
    assert main(["train", *SMALL_ARGS, "--timesteps", "256", "--n-envs", "2", "--runs-dir", str(tmp_path),
                 "--name", "tiny", "--checkpoint-every", "128", "--no-progress", "--curve-every", "128"]) == 0
    run = tmp_path / "tiny"
    curve = json.loads((run / "learning_curve.json").read_text())
    assert [r["steps"] for r in curve] == [0, 128, 256]
    assert all(np.isfinite(r["mean_return"]) and r["wall_s"] >= 0 for r in curve)
    assert curve[-1]["wall_s"] > curve[0]["wall_s"]
    assert (run / "model.zip").is_file() and (run / "run.yaml").is_file()
    assert any((run / "checkpoints").iterdir())
    assert any(p.name.startswith("events.out.tfevents") for p in (run / "tb").rglob("*"))
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logged = EventAccumulator(str(next((run / "tb").iterdir()))).Reload().Tags()["scalars"]
    assert {f"mel/cycle/{k}" for k in ("test_accuracy", "test_loss", "tau", "energy_j", "outages", "participants")
            } <= set(logged)
    out_json, out_csv, out_png = tmp_path / "r.json", tmp_path / "r.csv", tmp_path / "r.png"
    code = main(["evaluate", "mel_gym/TaskAllocation-v0", *SMALL_ARGS, "--policy", "equal", "--policy", "ha-sync",
                 "--policy", "random", "--policy", str(run / "model.zip"), "--episodes", "2", "--json", str(out_json),
                 "--csv", str(out_csv), "--plot", str(out_png), "--tensorboard", str(tmp_path / "eval_tb")])
    assert code == 0
    ha_sync = EventAccumulator(str(tmp_path / "eval_tb" / "ha-sync")).Reload()
    tau = ha_sync.Scalars("eval/tau")
    curves = json.loads(out_json.read_text())["cycle_curves"]["ha-sync"]
    assert [e.step for e in tau] == list(range(1, len(curves[0]["tau"]) + 1))
    assert tau[0].value == pytest.approx(np.mean([c["tau"][0] for c in curves]))
    assert len(ha_sync.Scalars("eval/test_accuracy")) == len(curves[0]["tau"]) + 1
    table = capsys.readouterr().out
    assert "| ha-sync |" in table and "model.zip" in table and "loss part" in table
    payload = json.loads(out_json.read_text())
    rows = payload["results"]
    assert len(rows) == 8
    assert set(rows[0]) >= {"policy", "env_id", "seed", "return", "lql_return", "final_accuracy", "cycles_to_target",
                            "mean_tau"}
    assert [r["seed"] for r in rows if r["policy"] == "equal"] == [r["seed"] for r in rows if r["policy"] == "ha-sync"]
    by_policy = {r["policy"]: r for r in rows}
    assert by_policy["ha-sync"]["mean_tau"] >= by_policy["equal"]["mean_tau"]
    assert len(list(csv.DictReader(out_csv.open()))) == 8
    assert out_png.stat().st_size > 1000


def test_bad_input_gives_one_clear_line(tmp_path, capsys):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    cases = [
        (["evaluate", "--env-kwarg", "num_learners=-3", "--episodes", "1"], "'num_learners' = -3 is out of range"),
        (["evaluate", "--policy", str(tmp_path / "none.zip"), "--episodes", "1", *SMALL_ARGS], "no saved agent"),
        (["train", "--agent", str(tmp_path / "missing.yaml"), "--timesteps", "10"], "does not exist"),
        (["evaluate", "--scenario", "nosuch", "--episodes", "1"], "unknown scenario 'nosuch'"),
        (["evaluate", "mel_gym/Nope-v0", "--episodes", "1"], "unknown env ID 'mel_gym/Nope-v0'"),
        (["train", "mel_gym/Nope-v0", "--timesteps", "10"], "unknown env ID"),
        (["evaluate", "--env-kwarg", "foo=1", "--episodes", "1"], "unexpected keyword argument 'foo'"),
        (["evaluate", "--json", str(a_file / "r.json"), "--episodes", "1"], f"{a_file} is a file, not a folder"),
        (["evaluate", "--csv", str(tmp_path), "--episodes", "1"], "is a folder"),
        (["train", "--timesteps", "0"], "--timesteps 0: must be >= 1"),
        (["train", "--n-envs", "0"], "--n-envs 0: must be >= 1"),
        (["train", "--runs-dir", str(a_file), "--timesteps", "8"], "is a file"),
        (["run", "--out", str(a_file / "main")], "is a file"),
        (["reproduce", "fig2", "--json", str(a_file / "x.json")], "is a file"),
        (["train", "--resume", str(tmp_path)], "not a mel-gym train run"),
        (["evaluate", "--policy", "equal", "--policy", "nosuch", "--json", str(tmp_path / "out" / "r.json")],
         "unknown policy 'nosuch'"),  # refused before the first policy runs: nothing is written
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1 and "Traceback" not in err, (argv, err)
    assert not any(p.name != "file" for p in tmp_path.iterdir())  # nothing was started or written


def test_a_run_folder_is_never_reused_silently(tmp_path, capsys):
    args = ["train", *SMALL_ARGS, "--timesteps", "32", "--n-envs", "2", "--runs-dir", str(tmp_path), "--name", "r",
            "--checkpoint-every", "0", "--no-progress", "--agent", "a2c"]
    assert main(args) == 0
    first = (tmp_path / "r" / "model.zip").stat().st_mtime_ns
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "run folder" in err and "exists" in err
    assert (tmp_path / "r" / "model.zip").stat().st_mtime_ns == first
    assert main([*args, "--overwrite"]) == 0
    assert (tmp_path / "r" / "model.zip").stat().st_mtime_ns != first
    # a failed start (a bad scenario value) leaves no folder behind
    assert main(["train", "--env-kwarg", "num_learners=0", "--runs-dir", str(tmp_path), "--name", "bad"]) == 2
    assert not (tmp_path / "bad").exists()


def test_ctrl_c_saves_the_run_and_resume_finishes_it(tmp_path):
    """Interrupt a real training process with SIGINT, then resume it to the planned step count."""
    import signal
    import time

    import yaml
    from stable_baselines3 import PPO

    run = tmp_path / "run"
    planned = 1_000_000  # far more than can run before the interrupt: the signal always lands mid-training
    # pytest-xdist workers ignore SIGINT and children inherit that (Python then installs no KeyboardInterrupt
    # handler): give the child the default disposition, as a terminal would.
    proc = subprocess.Popen([MEL_GYM, "train", *SMALL_ARGS, "--timesteps", str(planned), "--n-envs", "2",
                             "--runs-dir", str(tmp_path), "--name", "run", "--checkpoint-every", "256",
                             "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 240
    while len(list((run / "checkpoints").glob("*.zip"))) < 2 and time.time() < deadline and proc.poll() is None:
        # wait until training is under way: the second checkpoint (512 steps) comes after the first PPO update
        # (rollouts of 2 x 128 steps), so the optimiser has state to save; the first one may come before it
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "continue with: mel-gym train --resume" in err
    meta = yaml.safe_load((run / "run.yaml").read_text())
    assert meta["status"] == "interrupted" and 0 < meta["timesteps_done"] < planned
    stopped = PPO.load(run / "model.zip")
    steps_then = max(int(v["step"]) for v in stopped.policy.optimizer.state_dict()["state"].values())
    assert stopped.num_timesteps == meta["timesteps_done"] and steps_then > 0  # Adam's state was saved
    total = meta["timesteps_done"] + 512  # resume to a new planned total (--timesteps), a little further
    out = subprocess.run([MEL_GYM, "train", "--resume", str(run), "--timesteps", str(total), "--no-progress"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    meta = yaml.safe_load((run / "run.yaml").read_text())
    assert meta["status"] == "complete" and meta["timesteps_done"] >= total and meta["timesteps"] == total
    final = PPO.load(run / "model.zip")
    steps_now = max(int(v["step"]) for v in final.policy.optimizer.state_dict()["state"].values())
    assert final.num_timesteps == meta["timesteps_done"] and steps_now > steps_then  # continued, not restarted
    assert meta["resumed_at"][0]["env_seed"] != meta["seed"]  # fresh episodes, not the ones already seen


def test_a_killed_run_resumes_from_its_latest_checkpoint(tmp_path):
    import signal
    import time

    import yaml

    run = tmp_path / "run"
    proc = subprocess.Popen([MEL_GYM, "train", *SMALL_ARGS, "--timesteps", "100000", "--n-envs", "2", "--runs-dir",
                             str(tmp_path), "--name", "run", "--checkpoint-every", "256", "--no-progress"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while len(list((run / "checkpoints").glob("*.zip"))) < 2 and time.time() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)  # no chance to save: only checkpoints and run.yaml (status running) remain
    proc.wait(timeout=60)
    assert yaml.safe_load((run / "run.yaml").read_text())["status"] == "running"
    assert not (run / "model.zip").exists()
    out = subprocess.run([MEL_GYM, "train", "--resume", str(run), "--timesteps", "1024", "--no-progress"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    meta = yaml.safe_load((run / "run.yaml").read_text())
    assert meta["status"] == "complete" and meta["timesteps_done"] >= 1024
    assert meta["resumed_at"][0]["from"].startswith("checkpoints/") and meta["resumed_at"][0]["timesteps"] >= 256


def test_scenario_and_envs_commands_list_and_print(capsys):
    assert main(["scenario"]) == 0
    listing = capsys.readouterr().out
    assert "default" in listing and "`channel.bandwidth_hz`" in listing and "`orchestrator.tx_power_dbm`" in listing
    assert main(["scenario", "paper"]) == 0
    assert "num_learners: 20" in capsys.readouterr().out
    assert main(["envs", "--details"]) == 0  # `mel-gym envs` alone lists the IDs (tests/test_cli_audit.py)
    listing = capsys.readouterr().out
    for env_id in ("TaskAllocation-v0", "AsyncTaskAllocation-v0", "JointAllocation-v0", "LearnerSelection-v0"):
        assert env_id in listing
    assert "`aggregation.max_staleness`" in listing and "`reward.tau_bonus`" in listing


def test_run_quick_writes_every_output(tmp_path, capsys):
    out = subprocess.run([MEL_GYM, "run", "--quick", "--out", str(tmp_path / "main"), "--no-progress"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert main(["run", "--quick", "--out", str(tmp_path / "main")]) == 2
    assert "exists: pass --overwrite" in capsys.readouterr().err
    for name in ("table.md", "results.csv", "results.json", "accuracy.png", "ppo/model.zip", "ppo-planner/model.zip"):
        assert (tmp_path / "main" / name).is_file(), name
    table = (tmp_path / "main" / "table.md").read_text()
    for policy in ("| ppo |", "| ppo-planner |", "| equal |", "| ha-sync |", "| ha-sync-fraction |", "| random |",
                   "| bound: hindsight ha-sync-fraction |", "| bound: open-loop hindsight ha-sync-fraction |"):
        assert policy in table and policy in out.stdout
    assert "of the headroom closed" in table or "no clear headroom to close" in table
    data = json.loads((tmp_path / "main" / "results.json").read_text())
    assert data["headroom"]["best_causal"] == "ha-sync-fraction" and "fraction" in data["tuned"]["ha-sync-fraction"]
    # the planner-level agent plays the raw env through its planner, saved at the end or as a checkpoint
    planner = tmp_path / "main" / "ppo-planner"
    (planner / "checkpoints").mkdir(exist_ok=True)
    shutil.copy(planner / "model.zip", planner / "checkpoints" / "ppo_512_steps.zip")
    env = make_env("mel_gym/TaskAllocation-v0", "default", {"amount_action": True}).unwrapped
    obs, _ = env.reset(seed=10_000)
    for path in (planner / "model.zip", planner / "checkpoints" / "ppo_512_steps.zip"):
        action, _ = make_policy(str(path), env.problem, env.action_space).predict(obs, deterministic=True)
        assert action.shape == env.action_space.shape and env.action_space.contains(action.astype(np.float32))


def test_episode_plays_a_tuned_baseline_at_its_tuned_knobs(tmp_path, capsys):
    """A single episode shows the planner of the tables: its knobs tuned on training seeds 0-7 first, and a seed
    among them refused."""
    args = ["episode", "mel_gym/TaskAllocation-v0", "--policy", "ha-sync-fraction", "--plot", str(tmp_path / "e.png"),
            "--env-kwarg", "amount_action=true", "--env-kwarg", "horizon_cycles=2", "--env-kwarg", "num_learners=4"]
    assert main(args) == 0
    assert "ha-sync-fraction: fraction" in capsys.readouterr().err and (tmp_path / "e.png").is_file()
    assert main(args + ["--seed", "3"]) == 2
    assert "--seed 3: ha-sync-fraction is tuned on seeds 0..7" in capsys.readouterr().err


def test_episode_draws_paths_outages_and_predictions(tmp_path, capsys):
    png = tmp_path / "episode.png"
    assert main(["episode", "mel_gym/ReliableTaskAllocation-v0", "--scenario", "dynamic", "--plot", str(png),
                 "--env-kwarg", "horizon_cycles=5"]) == 0
    assert png.stat().st_size > 10_000
    assert "link failures" in capsys.readouterr().out


def run_config(tmp_path, name: str, text: str) -> None:
    """``mel-gym run`` on the run config ``text`` (written to tmp_path/run.yaml), output in tmp_path/name, in this
    process (``test_run_quick_writes_every_output`` runs the installed command); it must succeed."""
    config = tmp_path / "run.yaml"
    config.write_text(text)
    assert main(["run", "--config", str(config), "--out", str(tmp_path / name), "--no-progress"]) == 0


def test_run_with_several_training_seeds_reports_them_across_seeds(tmp_path):
    run_config(
        tmp_path, "dyn",
        "env_id: mel_gym/ReliableTaskAllocation-v0\nscenario: dynamic\n"
        "env_kwargs: {num_learners: 4, samples_per_cycle: 400, horizon_cycles: 4, amount_action: true}\n"
        "agent: ppo-residual\ntimesteps: 256\nn_envs: 2\ntraining_seeds: [0, 7]\n"
        "evaluation: {episodes: 2, seed: 10000, tune_episodes: 1, baselines: [ha-sync, ha-sync-threshold]}\n")
    table = (tmp_path / "dyn" / "table.md").read_text()
    for row in ("| ppo-seed0 |", "| ppo-seed7 |", "| ppo (2 training seeds) |", "| ha-sync-threshold |"):
        assert row in table
    assert "vs the best baseline" in table
    data = json.loads((tmp_path / "dyn" / "results.json").read_text())
    assert data["training_seeds"] == [0, 7] and "threshold" in data["tuned"]["ha-sync-threshold"]
    assert {r["policy"] for r in data["results"]} == {"ppo-seed0", "ppo-seed7", "ha-sync", "ha-sync-threshold"}
    assert (tmp_path / "dyn" / "agent_seed7" / "model.zip").is_file()


@pytest.mark.parametrize("env_id, scenario, agent, baselines, tuned", [
    ("mel_gym/DroneOrchestrator-v0", "drone", "ppo-residual-drone", "[greedy-flight, receding-horizon]",
     "receding-horizon"),
    ("mel_gym/LearnerRelocation-v0", "relocation", "ppo-residual-relocation", "[ha-sync, relocate]", "relocate"),
])
def test_run_trains_the_shipped_mobility_agents_and_tunes_their_baselines(tmp_path, env_id, scenario, agent, baselines,
                                                                         tuned):
    """The drone and relocation jobs end to end on a small world: a residual agent that corrects only the movement
    is trained, saved, loaded and evaluated beside the baselines; the baseline with a tuning grid is tuned."""
    run_config(
        tmp_path, "job",
        f"env_id: {env_id}\nscenario: {scenario}\n"
        "env_kwargs: {num_learners: 6, samples_per_cycle: 600, horizon_cycles: 3, relocation: {controllable: 3}, "
        "amount_action: true}\n"
        f"agent: {agent}\ntimesteps: 256\nn_envs: 2\ntraining_seeds: [0]\n"
        f"evaluation: {{episodes: 2, seed: 10000, tune_episodes: 1, baselines: {baselines}}}\n")
    data = json.loads((tmp_path / "job" / "results.json").read_text())
    grid = {"receding-horizon": (0.0, 1.0, 3.0, 10.0, 30.0), "relocate": (0.003, 0.01, 0.03, 0.1, 0.3)}[tuned]
    record = data["tuned"][tuned]
    name = next(k for k in record if k != "scores")
    assert record[name] in grid and sorted(row[name] for row in record["scores"]) == sorted(grid)
    assert {r["policy"] for r in data["results"]} >= {"ppo", tuned}


def test_run_multijob_trains_maskable_ppo_and_reports_each_job(tmp_path):
    """The multi-job run end to end on a small world: MaskablePPO is trained, saved, loaded with its masks and
    evaluated beside the partition baselines (their loss exponent tuned); the table and results have every job."""
    run_config(
        tmp_path, "job",
        "env_id: mel_gym/MultiJob-v0\nscenario: multijob\nenv_kwargs: {num_learners: 5, horizon_cycles: 3}\n"
        "agent: maskable-ppo\ntimesteps: 256\nn_envs: 2\ntraining_seeds: [0]\nlearning_curve: {every: 128}\n"
        "evaluation: {episodes: 2, seed: 10000, tune_episodes: 1, baselines: [milp, greedy-jobs, random]}\n")
    data = json.loads((tmp_path / "job" / "results.json").read_text())
    assert data["tuned"]["milp"]["loss_exponent"] in (0.0, 1.0, 2.0)
    assert {r["policy"] for r in data["results"]} == {"maskable-ppo", "milp", "greedy-jobs", "random"}
    assert all(len(r["job_accuracy"]) == 3 and len(r["job_cycles_to_target"]) == 3 for r in data["results"])
    table = (tmp_path / "job" / "table.md").read_text()
    assert "Per job" in table and "digits-5-9 (w 3, target 0.95)" in table
    header = (tmp_path / "job" / "results.csv").read_text().splitlines()[0]
    assert header.endswith("job_accuracy,job_cycles_to_target")
    curves = data["learning_curves"]  # the masked agent's validation returns as it trained, beside the baselines'
    assert [r["steps"] for r in curves["agents"]["maskable-ppo"]] == [0, 128, 256]
    assert set(curves["baselines"]) == {"milp", "greedy-jobs", "random"}
    assert (tmp_path / "job" / "learning_curves.png").stat().st_size > 0
    assert (tmp_path / "job" / "eval_tb" / "milp").is_dir()


def test_resume_skips_a_checkpoint_cut_off_by_a_kill(tmp_path):
    """A run killed while SB3 wrote a checkpoint leaves a partial zip: resuming starts from the last complete one."""
    import zipfile

    from mel_gym.experiments.train import latest_save

    folder = tmp_path / "checkpoints"
    folder.mkdir()
    with zipfile.ZipFile(folder / "ppo_256_steps.zip", "w") as archive:
        archive.writestr("data", "{}")
    (folder / "ppo_512_steps.zip").write_bytes(b"PK\x03\x04 cut off")
    # cut off right after the torch parameters, a zip archive of their own: the file ends with their end record
    inner = tmp_path / "policy.pth"
    with zipfile.ZipFile(inner, "w") as archive:
        archive.writestr("archive/data.pkl", "weights")
    (folder / "ppo_768_steps.zip").write_bytes(b"PK\x03\x04 outer header, then " + inner.read_bytes())
    assert zipfile.is_zipfile(folder / "ppo_768_steps.zip")  # what let such a file through before
    assert latest_save(tmp_path)[0].name == "ppo_256_steps.zip"


def test_run_reuses_and_resumes_the_agents_of_an_earlier_run(tmp_path, capsys):
    """--reuse-agents evaluates the agents an earlier run trained in the output folder again, without training;
    --resume continues a stopped run: an agent whose training stopped continues from its save to its planned
    steps, one never started is trained, complete ones are reused. Agents trained otherwise than the config says,
    folders without a complete run and the two options together are refused."""
    text = ("env_id: mel_gym/TaskAllocation-v0\n"
            "env_kwargs: {num_learners: 4, samples_per_cycle: 400, horizon_cycles: 2}\n"
            "agent: ppo\ntimesteps: 64\nn_envs: 2\ntraining_seeds: [0, 1]\n"
            "evaluation: {episodes: 1, baselines: [ha-sync]}\n")
    run_config(tmp_path, "job", text)
    capsys.readouterr()  # the first run's output
    job, config = tmp_path / "job", str(tmp_path / "run.yaml")
    stopped, missing = job / "agent_seed0", job / "agent_seed1"
    stamp = (stopped / "model.zip").stat().st_mtime_ns
    (job / "table.md").unlink()
    command = ["run", "--config", config, "--out", str(job), "--no-progress"]

    def run(*extra: str) -> tuple[int, str, str]:  # in this process: six interpreter start-ups saved
        code = main(command + list(extra))
        out, err = capsys.readouterr()
        return code, out, err

    code, out, err = run("--reuse-agents")
    assert code == 0, err
    assert out.count("reusing") == 2 and "training ppo" not in out
    assert (stopped / "model.zip").stat().st_mtime_ns == stamp and "| ppo-seed0 |" in (job / "table.md").read_text()

    meta = yaml.safe_load((stopped / "run.yaml").read_text())
    meta.update(status="interrupted", timesteps=192)  # as if stopped a third of the way
    (stopped / "run.yaml").write_text(yaml.safe_dump(meta))
    shutil.rmtree(missing)
    (tmp_path / "run.yaml").write_text(text.replace("timesteps: 64", "timesteps: 192"))  # the plan it stopped in
    code, out, err = run("--resume")
    assert code == 0, err
    assert f"resuming {stopped}" in out and "training ppo" in out and f"-> {missing}" in out
    resumed = yaml.safe_load((stopped / "run.yaml").read_text())
    assert resumed["status"] == "complete" and resumed["timesteps_done"] >= 192 and resumed["resumed_at"]
    assert yaml.safe_load((missing / "run.yaml").read_text())["status"] == "complete"
    code, out, err = run("--resume")
    assert code == 0, err
    assert out.count("reusing") == 2 and "training ppo" not in out and "resuming" not in out

    code, _, err = run("--resume", "--reuse-agents")
    assert code == 2 and "choose one" in err
    (tmp_path / "run.yaml").write_text(text.replace("timesteps: 64", "timesteps: 96"))  # not what was trained
    code, _, err = run("--resume")
    assert code == 2 and "was trained with timesteps 192" in err
    assert main(["run", "--config", config, "--out", str(tmp_path / "new"), "--reuse-agents"]) == 2
    assert "no complete training run" in capsys.readouterr().err
