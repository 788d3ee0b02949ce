"""The command line's answers to the audit of issue 22: malformed compare inputs, run folder names, run.yaml after
a kill, run configs and Ctrl-C during ``mel-gym run``, the env listing, progress lines in logs, RLlib timeouts."""

from __future__ import annotations

import json
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from mel_gym.experiments import progress
from mel_gym.experiments.cli import main
from mel_gym.registration import ENV_IDS

MEL_GYM = str(Path(sys.executable).parent / "mel-gym")
SMALL_ARGS = ["--env-kwarg", "num_learners=4", "--env-kwarg", "samples_per_cycle=400", "--env-kwarg", "horizon_cycles=4"]
ROW = {"policy": "ha-sync", "env_id": "x", "seed": 1, "return": 1.0, "lql_return": 0.5, "final_accuracy": 0.8,
       "cycles_to_target": None, "mean_tau": 3.0}


def _one_line_error(capsys, argv: list[str], *expected: str) -> str:
    """``main(argv)`` fails with status 2 and one stderr line holding every ``expected`` text, no traceback."""
    assert main(argv) == 2, argv
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for text in expected:
        assert text in err, (text, err)
    return err


# ---------------------------------------------------------------------------------------------------- 1. compare


def _without(key: str) -> dict:
    return {"results": [{k: v for k, v in ROW.items() if k != key}]}


@pytest.mark.parametrize("content, message", [
    ("null", "holds a JSON null, not a mapping with 'results'"),
    ('{"results": 5}', "'results' is a JSON number, not a list of result rows"),
    ('{"results": []}', "'results' is empty: no episodes to compare"),
    ('{"results": [', "is not valid JSON"),
    ("[1, 2]", "holds a JSON list"),
    (json.dumps(_without("seed")), "results[0] has no 'seed'"),
    (json.dumps(_without("return")), "results[0] has no 'return'"),
    (json.dumps(_without("lql_return")), "results[0] has no 'lql_return'"),
    (json.dumps({"results": [5]}), "results[0] is a JSON number, not a row"),
    (json.dumps({"results": [{**ROW, "seed": "one"}]}), "'seed' = 'one' must be an integer"),
    (json.dumps({"results": [{**ROW, "return": "high"}]}), "'return' = 'high' must be a number or null"),
    (json.dumps({"results": [ROW], "cycle_curves": {"ha-sync": [5]}}), "'cycle_curves' must hold one mapping"),
])
def test_compare_refuses_a_malformed_results_file_in_one_line_naming_it(tmp_path, capsys, content, message):
    path = tmp_path / "bad results.json"
    path.write_text(content)
    _one_line_error(capsys, ["compare", str(path), "--out", str(tmp_path / "out")], "mel-gym compare: error:",
                    str(path), message)
    assert not (tmp_path / "out").exists()


def test_compare_marks_accuracy_differences_as_it_marks_return_differences(tmp_path):
    from mel_gym.experiments.compare import compare

    def rows(policy: str, returns: list[float], accuracies: list[float]) -> list[dict]:
        return [{**ROW, "policy": policy, "seed": 100 + i, "return": r, "final_accuracy": a}
                for i, (r, a) in enumerate(zip(returns, accuracies))]

    path = tmp_path / "r.json"
    path.write_text(json.dumps({"results": rows("ha-sync", [5.0, 6.0, 4.0, 5.0], [0.80, 0.82, 0.79, 0.81])
                                + rows("ppo", [6.0, 7.0, 5.0, 6.1], [0.70, 0.71, 0.69, 0.70])
                                + rows("equal", [5.0, 6.0, 4.0, 5.0], [0.80, 0.82, 0.79, 0.815])}))
    text = compare([path])["text"]
    ppo = next(line for line in text.splitlines() if line.startswith("| ppo |") and "difference" not in line
               and line.count("|") == 5)
    _, _, _, ret, acc, _ = ppo.split("|")
    assert ret.strip().endswith("(better)") and acc.strip().endswith("(worse)")  # return up, accuracy down
    equal = next(line for line in text.splitlines() if line.startswith("| equal |") and line.count("|") == 5)
    assert "(better)" not in equal and "(worse)" not in equal  # intervals that hold 0 stay unmarked


# ---------------------------------------------------------------------------------------------------- 2. --name


@pytest.mark.parametrize("name", ["../escape", "a/b", "..", ".", "x\\y"])
def test_train_refuses_a_run_name_that_leaves_the_runs_dir(tmp_path, capsys, name):
    runs = tmp_path / "runs"
    _one_line_error(capsys, ["train", "--name", name, "--runs-dir", str(runs), "--timesteps", "8"], "--name",
                    repr(name), "plain folder name")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------------- 3. run.yaml


def test_a_killed_run_yaml_reports_the_steps_of_its_last_checkpoint(tmp_path):
    """SIGKILL leaves no chance to save: run.yaml, rewritten at each checkpoint, still says how far training got."""
    run = tmp_path / "run"
    proc = subprocess.Popen([MEL_GYM, "train", *SMALL_ARGS, "--timesteps", "100000", "--n-envs", "2", "--runs-dir",
                             str(tmp_path), "--name", "run", "--checkpoint-every", "64", "--no-progress",
                             "--agent", "a2c"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline, meta = time.time() + 120, {}
        while time.time() < deadline and proc.poll() is None:
            if (run / "run.yaml").is_file():
                meta = yaml.safe_load((run / "run.yaml").read_text()) or {}
                if meta.get("timesteps_done", 0) >= 64:
                    break
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    meta = yaml.safe_load((run / "run.yaml").read_text())
    assert meta["status"] == "running" and not (run / "model.zip").exists()
    assert meta["timesteps_done"] >= 64  # was 0 until the end of training
    checkpoint = run / meta["last_checkpoint"]
    assert checkpoint.is_file() and checkpoint.name == f"a2c_{meta['timesteps_done']}_steps.zip"


# ---------------------------------------------------------------------------------------------------- 4. run


def test_an_unknown_run_config_lists_the_run_configs(capsys):
    from mel_gym.paths import preset_names

    presets = preset_names("run")
    assert "default" in presets
    for command in ("run", "headroom"):
        _one_line_error(capsys, [command, "--config", "nope"], "--config 'nope'", ", ".join(presets))


def test_ctrl_c_during_run_says_how_to_finish_and_finish_evaluates_what_was_trained(tmp_path):
    """Stop `mel-gym run` while it trains (SIGINT, as Ctrl-C): the message gives the exact command that finishes the
    job with the agent as trained so far; that command runs and writes the table, saying the agent stopped short."""
    config = tmp_path / "tiny.yaml"
    config.write_text("env_id: mel_gym/TaskAllocation-v0\n"
                      "env_kwargs: {num_learners: 4, samples_per_cycle: 400, horizon_cycles: 2}\n"
                      "agent: ppo\ntimesteps: 1000000\nn_envs: 2\n"
                      "evaluation: {episodes: 1, baselines: [ha-sync]}\n")
    out = tmp_path / "job"
    proc = subprocess.Popen([MEL_GYM, "run", "--config", str(config), "--out", str(out), "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while not (out / "agent" / "tb").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    time.sleep(1.0)  # a few training steps
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted while training" in err and "--resume" in err and err.count("\n") == 1
    finish = re.search(r"evaluating the agents as trained so far: (.+? --finish)", err)
    assert finish, err
    words = shlex.split(finish.group(1))
    assert words[:2] == ["mel-gym", "run"] and str(out) in words
    done = subprocess.run([MEL_GYM, *words[1:], "--no-progress"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "as trained so far" in done.stdout
    table = (out / "table.md").read_text()
    assert "| ppo |" in table and "| ha-sync |" in table
    assert "Stopped before their planned steps" in table and "of 1,000,000 steps" in table
    data = json.loads((out / "results.json").read_text())
    assert 0 < data["stopped_agents"]["ppo"]["timesteps_done"] < 1_000_000


def test_the_hint_after_ctrl_c_in_evaluation_reuses_the_agents_and_finish_needs_a_trained_agent(tmp_path, capsys):
    from mel_gym.experiments.run import RunInterrupted, _stop_hint

    with pytest.raises(RunInterrupted) as stopped:
        with _stop_hint("my config.yaml", tmp_path / "out", True) as phase:
            phase["training"] = False
            raise KeyboardInterrupt
    assert "interrupted while evaluating" in stopped.value.hint
    command = f"mel-gym run --config 'my config.yaml' --out {tmp_path / 'out'} --quick --reuse-agents"
    assert command in stopped.value.hint
    config = tmp_path / "tiny.yaml"
    config.write_text("env_kwargs: {num_learners: 4, horizon_cycles: 2}\nagent: ppo\ntimesteps: 64\n")
    _one_line_error(capsys, ["run", "--config", str(config), "--out", str(tmp_path / "none"), "--finish"],
                    "--finish: no agent", "--resume")
    _one_line_error(capsys, ["run", "--config", str(config), "--out", str(tmp_path / "x"), "--finish", "--resume"],
                    "choose one")


# ---------------------------------------------------------------------------------------------------- 5. envs


def test_envs_lists_the_ids_first_and_the_parameters_on_request(capsys):
    assert main(["envs"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[:len(ENV_IDS)]] == list(ENV_IDS)
    assert all(len(line.split(maxsplit=1)) == 2 for line in lines[:len(ENV_IDS)])  # a summary beside each ID
    assert "Synchronous MEL task allocation" in lines[0] and len(lines) <= len(ENV_IDS) + 3
    assert "--details" in lines[-1] and not any("| parameter |" in line for line in lines)
    assert main(["envs", "mel_gym/MultiHop-v0"]) == 0
    one = capsys.readouterr().out
    assert "mel_gym/MultiHop-v0" in one and "`horizon_cycles`" in one and "TaskAllocation" not in one
    assert main(["envs", "--details"]) == 0
    every = capsys.readouterr().out
    assert every.count("| parameter |") == len(ENV_IDS) and "`aggregation.max_staleness`" in every
    _one_line_error(capsys, ["envs", "mel_gym/Nope-v0"], "unknown env ID 'mel_gym/Nope-v0'")
    _one_line_error(capsys, ["envs", "CartPole-v1"], "env ID 'CartPole-v1' is not a mel_gym env")


# ---------------------------------------------------------------------------------------------------- 6. progress


def test_train_prints_progress_lines_when_stdout_is_not_a_terminal(tmp_path, monkeypatch, capsys):
    """stdout to a pipe (a log file, CI): plain, flushed progress lines on stderr (stdout keeps the command's own
    output); --no-progress silences them."""
    monkeypatch.setenv(progress.INTERVAL_ENV, "0")
    args = ["train", *SMALL_ARGS, "--timesteps", "128", "--n-envs", "2", "--runs-dir", str(tmp_path),
            "--checkpoint-every", "0", "--agent", "a2c"]
    out = subprocess.run([MEL_GYM, *args, "--name", "a"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = [line for line in out.stderr.splitlines() if line.startswith("[progress] train a2c on TaskAllocation-v0")]
    assert lines, out.stderr
    assert "[progress]" not in out.stdout
    assert re.search(r": [\d,]+/128 env steps \([\d.]+%\), [\d.,]+ env steps/s, ETA \S+, elapsed \S+$", lines[-1])
    assert main([*args, "--name", "b", "--no-progress"]) == 0
    assert "[progress]" not in capsys.readouterr().err


def test_progress_lines_nest_count_for_every_task_and_stay_off_on_a_terminal(monkeypatch, capsys):
    monkeypatch.setenv(progress.INTERVAL_ENV, "0")
    progress.configure(enabled=True)  # as main() does without --no-progress (an earlier test may have switched it off)
    with progress.task("outer", unit=None):
        with progress.task("evaluate", 20, "episode-cycles") as inner:
            progress.advance(5)
            time.sleep(0.3)
        assert inner.done == 5
    out = capsys.readouterr().err
    assert "[progress] evaluate: 5/20 episode-cycles (25.0%)" in out and "ETA" in out
    assert progress.current() is None

    class Terminal:
        def isatty(self) -> bool:
            return True

    assert not progress.lines_wanted(Terminal()) and progress.lines_wanted(sys.stdout)
    monkeypatch.setenv(progress.INTERVAL_ENV, "off")
    assert progress.interval() is None and not progress.lines_wanted(sys.stdout)
    monkeypatch.setenv(progress.INTERVAL_ENV, "soon")
    with pytest.raises(ValueError, match="MEL_GYM_PROGRESS_EVERY='soon'"):
        progress.interval()
    with pytest.raises(ValueError, match="MEL_GYM_PROGRESS_EVERY='soon'"):
        with progress.task("refused", 3):
            pass
    assert progress.current() is None  # the refused task did not stay open
    assert progress.duration(42) == "42s" and progress.duration(303) == "5m03s" and progress.duration(7620) == "2h07m"


# ---------------------------------------------------------------------------------------------------- 7. RLlib


def test_rllib_sample_timeouts_fit_slow_env_steps_and_an_empty_iteration_is_a_clear_error():
    from mel_gym.integrations.rllib_multiagent import (RLLIB_SAMPLE_TIMEOUT_S, STEP_SECONDS, env_runner_results,
                                                       sample_timeout_s, train_iteration)

    assert sample_timeout_s(128) == 128 * STEP_SECONDS  # one sample() call: the whole batch, one env
    assert sample_timeout_s(128, num_env_runners=4, step_seconds=0.5) == RLLIB_SAMPLE_TIMEOUT_S  # never below RLlib's
    assert sample_timeout_s(4000, num_env_runners=2, step_seconds=1.0) == 2000.0
    with pytest.raises(ValueError, match="step_seconds"):
        sample_timeout_s(128, step_seconds=0)

    class Algo:
        """What RLlib's PPO returns when every env runner timed out: no 'env_runners' results."""

        class config:
            sample_timeout_s = 64.0

        def train(self):
            return {"training_iteration": 3, "timers": {}}

    with pytest.raises(RuntimeError, match=r"iteration 3 sampled no env steps .*sample_timeout_s=64 s.*step_seconds"):
        train_iteration(Algo())
    assert env_runner_results({"env_runners": {"num_env_steps_sampled": 64}}) == {"num_env_steps_sampled": 64}
    with pytest.raises(RuntimeError, match="no 'env_runners'"):
        env_runner_results({"env_runners": {"num_env_steps_sampled": 0}})


def test_rllib_configs_carry_the_timeouts():
    pytest.importorskip("ray.rllib", reason="Ray RLlib lives in the compatibility venv (.venv-gym1.2.2)")
    from mel_gym.integrations.rllib import single_agent_ppo_config
    from mel_gym.integrations.rllib_multiagent import sample_timeout_s, shared_policy_config

    for make in (single_agent_ppo_config, shared_policy_config):
        config = make("any", train_batch_size=256, num_env_runners=2, step_seconds=3.0)
        assert config.sample_timeout_s == sample_timeout_s(256, 2, 1, 3.0) == 384.0
        assert config.evaluation_sample_timeout_s == 384.0 and config.rollout_fragment_length == "auto"


def test_latest_save_prefers_a_checkpoint_newer_than_model_zip(tmp_path):
    """Ctrl-C saved model.zip at 100 steps, the resumed run checkpointed at 200 and was killed: --finish and
    --resume take the 200-step checkpoint (run.yaml says 200); a model.zip at least as new as every checkpoint wins."""
    import zipfile

    from mel_gym.experiments.train import latest_save

    def save(path, steps):
        path.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("data", json.dumps({"num_timesteps": steps}))

    save(tmp_path / "model.zip", 100)
    save(tmp_path / "checkpoints" / "ppo_64_steps.zip", 64)
    assert latest_save(tmp_path)[0] == tmp_path / "model.zip"
    save(tmp_path / "checkpoints" / "ppo_200_steps.zip", 200)
    assert latest_save(tmp_path)[0] == tmp_path / "checkpoints" / "ppo_200_steps.zip"
    save(tmp_path / "model.zip", 256)
    assert latest_save(tmp_path)[0] == tmp_path / "model.zip"
