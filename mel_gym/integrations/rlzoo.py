"""RL Baselines3 Zoo: tune its hyperparameter files for mel_gym's envs with rl-zoo's own optuna search.

``mel-gym rlzoo-tune --algo ppo`` runs, for each env ID, rl-zoo's search::

    python -m rl_zoo3.train --algo ppo --env mel_gym/TaskAllocation-v0 --gym-packages mel_gym -conf <file>
        -optimize --n-trials T --n-timesteps N --n-evaluations E --eval-episodes M --sampler tpe --pruner median
        --n-startup-trials S0 --seed S --storage <out>/<algo>.log --study-name <env ID> -f <out>

(the env's current entry in ``<file>`` is the search's starting point: rl-zoo draws the hyperparameters of its
sampler, ``rl_zoo3.hyperparams_opt``, over it), then reads the best trial from the study and writes it back into
``<file>`` in rl-zoo's format: the entry as that trial trained it (rl-zoo's converter of the sampled values, e.g.
``n_steps_pow`` -> ``n_steps``, ``net_arch: small`` -> ``policy_kwargs``), keeping the entry's own ``n_timesteps``
(the training budget) and ``n_envs``. A comment above each entry records the search: trials, steps, the best trial's
mean evaluation return. rl-zoo evaluates on envs seeded from ``--seed`` (training seeds), never on mel_gym's
held-out evaluation seeds (10000 ...).

Needs ``pip install 'mel_gym[rlzoo]'`` (rl_zoo3 brings optuna).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import yaml

#: The search budget of the shipped files (``mel-gym rlzoo-tune``'s defaults).
DEFAULT_TRIALS = 5
DEFAULT_TIMESTEPS = 3000
DEFAULT_EVALUATIONS = 2
DEFAULT_EVAL_EPISODES = 5
#: rl-zoo's default: TPE samples (and the median pruner prunes) only after this many random trials.
DEFAULT_STARTUP_TRIALS = 10
RLZOO_MISSING = "mel-gym rlzoo-tune runs RL Baselines3 Zoo, which is not installed here: pip install 'mel_gym[rlzoo]'"


def read_table(path: str | Path) -> dict[str, dict[str, Any]]:
    """An rl-zoo hyperparameter file: env ID -> its entry (read as rl-zoo reads it)."""
    return yaml.load(Path(path).read_text(), Loader=yaml.UnsafeLoader) or {}


def optimize_command(algo: str, env_id: str, conf: str | Path, out_dir: str | Path, trials: int, timesteps: int,
                     seed: int = 0, evaluations: int = DEFAULT_EVALUATIONS,
                     eval_episodes: int = DEFAULT_EVAL_EPISODES, env_kwargs: Sequence[str] = (),
                     startup_trials: int = DEFAULT_STARTUP_TRIALS) -> list[str]:
    """The rl-zoo command line of one search (its study goes to ``<out_dir>/<algo>.log``, named by the env ID);
    ``env_kwargs`` in rl-zoo's ``KEY:VALUE`` form."""
    extra = ["--env-kwargs", *env_kwargs] if env_kwargs else []
    return [sys.executable, "-m", "rl_zoo3.train", "--algo", algo, "--env", env_id, "--gym-packages", "mel_gym",
            "-conf", str(conf), "-optimize", "--n-trials", str(trials), "--n-timesteps", str(timesteps),
            "--n-evaluations", str(evaluations), "--eval-episodes", str(eval_episodes), "--sampler", "tpe",
            "--pruner", "median", "--n-startup-trials", str(startup_trials), "--seed", str(seed),
            "--storage", str(Path(out_dir) / f"{algo}.log"), "--study-name", env_id, "-f", str(out_dir),
            "--no-optim-plots", "--num-threads", "1", *extra]


def _policy_kwargs_text(kwargs: dict[str, Any]) -> str:
    """``{"net_arch": [64, 64], "activation_fn": nn.Tanh}`` -> ``"dict(net_arch=[64, 64], activation_fn=nn.Tanh)"``
    (rl-zoo evaluates the string with torch's ``nn`` in scope)."""
    parts = []
    for key, value in kwargs.items():
        text = f"nn.{value.__name__}" if isinstance(value, type) else repr(value)
        parts.append(f"{key}={text}")
    return f"dict({', '.join(parts)})"


def _plain(value: Any) -> Any:
    """numpy scalars -> Python numbers, for YAML."""
    return value.item() if hasattr(value, "item") else value


def best_trial(algo: str, storage: str | Path, study_name: str) -> tuple[dict[str, Any], float, int]:
    """(the best trial's hyperparameters in rl-zoo's file format, its mean evaluation return, the number of complete
    trials) of a study that ``optimize_command`` ran."""
    import optuna
    from rl_zoo3.hyperparams_opt import HYPERPARAMS_CONVERTER

    backend = optuna.storages.journal.JournalFileBackend(str(storage))
    study = optuna.load_study(storage=optuna.storages.JournalStorage(backend), study_name=study_name)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        raise RuntimeError(f"study {study_name!r} in {storage} has no complete trial")
    best = study.best_trial
    hyper = HYPERPARAMS_CONVERTER[algo](dict(best.params))
    # a value the sampler left unset (e.g. TD3's noise_type None) kept the entry's own during the trial
    hyper = {k: _plain(v) for k, v in hyper.items() if v is not None}
    if "noise_type" not in hyper:
        hyper.pop("noise_std", None)
    if isinstance(hyper.get("policy_kwargs"), dict):
        hyper["policy_kwargs"] = _policy_kwargs_text(hyper["policy_kwargs"])
    return hyper, float(best.value), len(complete)


def write_table(path: str | Path, header: Sequence[str], entries: dict[str, tuple[dict[str, Any], str]]) -> None:
    """Write an rl-zoo file: comment lines ``header``, then per env ID a comment and its entry."""
    lines = [f"# {line}" if line else "#" for line in header]
    for env_id, (entry, comment) in entries.items():
        if comment:
            lines.append(f"# {comment}")
        lines.append(yaml.safe_dump({env_id: entry}, sort_keys=False, width=120).rstrip())
    Path(path).write_text("\n".join(lines) + "\n")


def header_lines(algo: str) -> list[str]:
    """The comment lines at the top of a file: what it is, how to train with it, the command that tuned it."""
    return [f"RL Baselines3 Zoo hyperparameters of {algo.upper()} for mel_gym's envs (rl-zoo's format: keyed by env "
            "ID).",
            f"Train: python -m rl_zoo3.train --algo {algo} --env <env ID> --gym-packages mel_gym -conf <this file>",
            "Tuned env by env with rl-zoo's optuna search (TPE sampler, median pruner; rl-zoo's sampler and "
            "converter):",
            f"  mel-gym rlzoo-tune --algo {algo} [--env <env ID>] --trials T --timesteps N --seed 0 --file <this file>",
            "The line above each entry records its search. Each entry is the best trial's hyperparameters;",
            "n_timesteps (the training budget) and n_envs are the entry's own."]


def tune(algo: str, file: str | Path, env_ids: Sequence[str] | None = None, out_dir: str | Path = "runs/rlzoo-tune",
         trials: int = DEFAULT_TRIALS, timesteps: int = DEFAULT_TIMESTEPS, seed: int = 0,
         env_kwargs: Sequence[str] = (), startup_trials: int = DEFAULT_STARTUP_TRIALS,
         log: Callable[[str], None] = print) -> dict[str, dict[str, Any]]:
    """Run rl-zoo's search for each env ID of ``file`` (or ``env_ids``) and write the best trials back into it.

    The file is rewritten after each env, so an interrupted run keeps what it finished. Returns env ID ->
    {"value", "trials", "seconds", "hyperparams"}."""
    if trials < 1 or timesteps < 1 or startup_trials < 0:
        raise ValueError(f"--trials {trials} / --timesteps {timesteps} / --startup-trials {startup_trials}: the first "
                         "two must be >= 1, the last >= 0")
    try:
        import optuna  # noqa: F401 - rl_zoo3 brings it
        import rl_zoo3  # noqa: F401
    except ImportError as err:
        raise ModuleNotFoundError(RLZOO_MISSING) from err
    file, out = Path(file), Path(out_dir)
    if (out / f"{algo}.log").exists():  # rl-zoo would add to that study: its best trial could be an older run's
        raise ValueError(f"--out {out}: holds an earlier search ({algo}.log); choose another --out or remove it")
    table = read_table(file)
    unknown = sorted(set(env_ids or []) - set(table))
    if unknown:
        raise ValueError(f"--env {unknown[0]}: not in {file}; its env IDs: {sorted(table)}")
    out.mkdir(parents=True, exist_ok=True)
    comments = _entry_comments(file)
    entries = {env_id: (dict(entry), comments.get(env_id, "")) for env_id, entry in table.items()}
    report: dict[str, dict[str, Any]] = {}
    for env_id in env_ids or list(table):
        cmd = optimize_command(algo, env_id, file, out, trials, timesteps, seed, env_kwargs=env_kwargs,
                               startup_trials=startup_trials)
        log(f"[rlzoo-tune] {' '.join(cmd[1:])}")
        start = time.perf_counter()
        with open(out / f"{algo}-{env_id.replace('/', '-')}.txt", "w") as fh:
            done = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT)
        if done.returncode != 0:
            raise RuntimeError(f"rl-zoo's search for {algo} on {env_id} failed (exit {done.returncode}); see {fh.name}")
        hyper, value, n = best_trial(algo, out / f"{algo}.log", env_id)
        seconds = time.perf_counter() - start
        entry = {**entries[env_id][0], **hyper}
        how = "all random: TPE's start-up" if trials <= startup_trials else f"TPE after {startup_trials} random"
        comment = (f"tuned: best of {n} trials x {timesteps} steps ({how}), mean eval return {value:.3f} "
                   f"(search {seconds:.0f} s{', env kwargs ' + ' '.join(env_kwargs) if env_kwargs else ''})")
        entries[env_id] = (entry, comment)
        write_table(file, header_lines(algo), entries)
        report[env_id] = {"value": value, "trials": n, "seconds": round(seconds, 1), "hyperparams": hyper}
        log(f"[rlzoo-tune] {env_id}: {comment}")
    return report


def _entry_comments(file: Path) -> dict[str, str]:
    """The ``# tuned: ...`` comment right above each entry of a file written by :func:`write_table` (kept for the env
    IDs that are not tuned again)."""
    comments, previous = {}, ""
    for line in file.read_text().splitlines():
        if line.startswith("mel_gym/") and previous.startswith("# tuned:"):
            comments[line.split(":")[0]] = previous[2:]
        previous = line
    return comments
