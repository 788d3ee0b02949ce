"""Plain progress lines for long commands whose stdout is not a terminal (a log file, CI, ``nohup``).

A terminal shows SB3's progress bar; a log file shows nothing of it, so a long ``mel-gym run`` could print nothing
for an hour. While a :func:`task` is open and stdout is not a terminal, a background thread prints one flushed line
to stderr (so that a command's own output, e.g. ``mel-gym evaluate > table.md``, stays clean; ``nohup`` and CI logs
hold both streams) every :data:`INTERVAL_ENV` seconds (default :data:`DEFAULT_INTERVAL`)::

    [progress] train ppo on TaskAllocation-v0: 12,288/50,000 steps (24.6%), 41.0 steps/s, ETA 15m21s, elapsed 5m00s

Tasks nest: the line describes the innermost open task (what is being done now: a stage with its own total), and
the outermost one owns the thread, so a command that opens one task around its stages (``run``: training, then
evaluation) prints lines between them too (an outer task without a unit shows only its elapsed time). Work reports
itself with :func:`advance`, which counts for every open task (a no-op when none is open): the episode runner
(:func:`mel_gym.experiments.episodes.play`) advances by the cycles its episodes played, a training run by its env
steps (:class:`mel_gym.experiments.callbacks.ProgressCallback`).

Silence the lines with ``MEL_GYM_PROGRESS_EVERY=off``, with :func:`configure` ``(enabled=False)`` or a command's
``--no-progress``; ``MEL_GYM_PROGRESS_EVERY=0`` prints as often as it can (tests).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator, TextIO

#: The environment variable with the seconds between two progress lines (``off``: none).
INTERVAL_ENV = "MEL_GYM_PROGRESS_EVERY"
#: Seconds between two progress lines unless :data:`INTERVAL_ENV` says otherwise.
DEFAULT_INTERVAL = 30.0
#: The shortest wait of the printing thread (an interval of 0 prints at most this often).
MIN_WAIT = 0.05
PREFIX = "[progress]"

_settings: dict[str, bool | float | None] = {"enabled": True, "interval": None}
_stack: list["Task"] = []
_lock = threading.Lock()


def configure(enabled: bool | None = None, interval: float | None = None) -> None:
    """Switch the progress lines on or off for this process (``--no-progress``) and/or set their interval in seconds
    (None: leave as is; the interval otherwise comes from :data:`INTERVAL_ENV`)."""
    if enabled is not None:
        _settings["enabled"] = bool(enabled)
    if interval is not None:
        if not interval >= 0:
            raise ValueError(f"progress interval {interval!r}: must be >= 0 seconds")
        _settings["interval"] = float(interval)


def interval() -> float | None:
    """Seconds between two progress lines, or None when they are off (:data:`INTERVAL_ENV` = ``off``).

    Raises:
        ValueError: :data:`INTERVAL_ENV` is neither a number of seconds >= 0 nor ``off``.
    """
    if _settings["interval"] is not None:
        return float(_settings["interval"])
    raw = os.environ.get(INTERVAL_ENV, "").strip()
    if not raw:
        return DEFAULT_INTERVAL
    if raw.lower() in ("off", "none", "never"):
        return None
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise ValueError(f"{INTERVAL_ENV}={raw!r}: give the seconds between progress lines (a number >= 0) or 'off'")
    return value


def lines_wanted(stream: TextIO | None = None) -> bool:
    """Whether progress lines would be printed now: switched on, an interval set, and ``stream`` (default stdout)
    not a terminal (a terminal shows the progress bars instead)."""
    stream = sys.stdout if stream is None else stream
    if not _settings["enabled"] or interval() is None:
        return False
    isatty = getattr(stream, "isatty", None)
    try:
        return not (isatty is not None and isatty())
    except ValueError:  # a closed stream
        return False


def duration(seconds: float) -> str:
    """``42s``, ``5m03s``, ``2h07m``."""
    seconds = max(int(round(seconds)), 0)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _count(value: float) -> str:
    """``12,288`` (whole numbers, and anything from 100 on) or ``2.5``."""
    return f"{value:,.0f}" if float(value).is_integer() or value >= 100 else f"{value:,.1f}"


@dataclass
class Task:
    """One piece of long work: what it is, how many ``unit`` it has to do (None: unknown) and has done (``unit``
    None: a frame around stages, whose line gives only the elapsed time)."""

    what: str
    total: float | None = None
    unit: str | None = "steps"
    done: float = 0.0
    started: float = field(default_factory=time.monotonic)

    def advance(self, n: float = 1) -> None:
        """``n`` more units done."""
        self.done += n

    def line(self, now: float | None = None) -> str:
        """The progress line: what, done/total (share), rate, ETA, elapsed."""
        elapsed = (time.monotonic() if now is None else now) - self.started
        if self.unit is None:
            return f"{PREFIX} {self.what}: elapsed {duration(elapsed)}"
        rate = self.done / elapsed if elapsed > 0 else 0.0
        parts = [f"{PREFIX} {self.what}:"]
        if self.total:
            share = min(self.done / self.total, 1.0)
            parts.append(f"{_count(self.done)}/{_count(self.total)} {self.unit} ({share:.1%}),")
        else:
            parts.append(f"{_count(self.done)} {self.unit},")
        parts.append(f"{rate:,.2f} {self.unit}/s,")
        if self.total and rate > 0:
            parts.append(f"ETA {duration(max(self.total - self.done, 0) / rate)},")
        elif self.total:
            parts.append("ETA unknown,")
        parts.append(f"elapsed {duration(elapsed)}")
        return " ".join(parts)


class _Printer(threading.Thread):
    """Prints the innermost task's line every ``every`` seconds until stopped."""

    def __init__(self, every: float, stream: TextIO):
        super().__init__(name="mel_gym-progress", daemon=True)
        self.every, self.stream, self.stop = every, stream, threading.Event()

    def run(self) -> None:
        while not self.stop.wait(max(self.every, MIN_WAIT)):
            with _lock:
                line = _stack[-1].line() if _stack else None
            if line is None:
                continue
            try:
                print(line, file=self.stream, flush=True)
            except (ValueError, OSError):  # the stream was closed under us: stop quietly
                return


@contextmanager
def task(what: str, total: float | None = None, unit: str | None = "steps", quiet: bool = False) -> Iterator[Task]:
    """Open a :class:`Task` for the duration of the ``with`` block; the outermost task prints progress lines to
    stderr from a background thread when :func:`lines_wanted`. ``quiet``: this task prints nothing itself (an inner
    task still counts, and shows while open, if an outer one prints)."""
    current = Task(what, float(total) if total else None, unit)
    printer = None
    with _lock:
        outermost = not _stack
    # a bad MEL_GYM_PROGRESS_EVERY raises here, before the task is on the stack (it would stay there otherwise)
    every = interval() if outermost and not quiet and lines_wanted() else None
    with _lock:
        _stack.append(current)
    if every is not None:
        printer = _Printer(every, sys.stderr)
        printer.start()
    try:
        yield current
    finally:
        with _lock:
            _stack.remove(current)
        if printer is not None:
            printer.stop.set()
            printer.join(timeout=5)


def advance(n: float = 1) -> None:
    """``n`` more units done, for every open task (no-op when none is open): an outer task's total counts the work
    of the stages inside it."""
    for open_task in list(_stack):
        open_task.advance(n)


def current() -> Task | None:
    """The innermost open task, or None."""
    return _stack[-1] if _stack else None


__all__ = ["DEFAULT_INTERVAL", "INTERVAL_ENV", "Task", "advance", "configure", "current", "duration", "interval",
           "lines_wanted", "task"]
