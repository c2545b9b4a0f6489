"""W&B's own agent, one per GPU group: ``sweepctl agent entity/project/id --gpus 0,1``.

W&B's server hands out the runs; each ``wandb agent`` child sees its group in
``CUDA_VISIBLE_DEVICES`` and ``--count`` is split across the agents. Signals are handled as
for local agents: the first Ctrl-C (or SIGTERM) ends the runs in flight gracefully (SIGTERM,
then SIGKILL after a grace period), a second one kills them at once.

``wandb agent`` ends its runs in tiers, one per Ctrl-C it receives: wait for them, SIGTERM
them, SIGKILL them (its runs sit in their own process groups, out of our reach). So a
graceful stop here is two SIGINTs to each agent, and the kill a third.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sweepctl.agent.process import (
    Child,
    child_pids,
    install_stop_signals,
    restore_signals,
    send_signal,
    signal_group,
)
from sweepctl.backends.base import AgentReport

GRACE = 10.0  # seconds between the runs' SIGTERM and SIGKILL, as for local agents
TIER_GAP = 1.0  # seconds between the SIGINTs that move `wandb agent` from one tier to the next
TIER_MIN_GAP = 0.3  # ... and never less, even when killing now


def split_count(count: int | None, agents: int) -> list[int | None]:
    """``--count`` shared across ``agents`` as evenly as can be (10 over 4: 3, 3, 2, 2)."""
    if count is None:
        return [None] * agents
    share, extra = divmod(count, agents)
    return [share + (1 if i < extra else 0) for i in range(agents)]


def agent_argv(path: str, count: int | None) -> list[str]:
    """The command line of one W&B agent, run by this Python (the wandb package is here)."""
    argv = [sys.executable, "-m", "wandb", "agent"]
    if count is not None:
        argv += ["--count", str(count)]
    return [*argv, path]


class FanOut:
    """Runs ``wandb agent`` once per GPU group (or ``workers`` times) and waits for them."""

    def __init__(
        self,
        path: str,
        *,
        count: int | None = None,
        groups: list[str | None],
        log_dir: Path,
        echo: Callable[[str, bytes], None] | None = None,
        say: Callable[[str], None] | None = None,
        grace: float = GRACE,
        cwd: Path | None = None,
    ) -> None:
        counts = split_count(count, len(groups))
        # With --count smaller than the number of groups, some groups get no agent.
        self.plan = [(g, c) for g, c in zip(groups, counts, strict=True) if c != 0]
        self.path = path
        self.log_dir = log_dir
        self.echo = echo
        self.say = say or (lambda message: None)
        self.grace = grace
        self.cwd = cwd or Path.cwd()
        self.report = AgentReport(controller="wandb", workers=len(self.plan))
        self.children: list[Child] = []
        self._interrupt = threading.Event()
        self._kill_now = threading.Event()
        self._lock = threading.Lock()  # children, between the main thread and the wind-down

    def label(self, index: int, group: str | None) -> str:
        return f"gpu {group}" if group is not None else f"agent {index + 1}"

    def run(self) -> AgentReport:
        previous = install_stop_signals(self._on_signal)
        try:
            self._start()
            for child in self.children:
                while (code := child.wait(0.2)) is None:
                    pass
                self.report.agent_codes.append(code)
        finally:
            restore_signals(previous)
            for child in self.children:
                child.signal(signal.SIGKILL)  # only agents still alive after an error
        return self.report

    def _start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for index, (group, count) in enumerate(self.plan):
            if self._interrupt.is_set():  # a signal while starting: start no more agents
                break
            env = dict(os.environ)
            if group is not None:
                env["CUDA_VISIBLE_DEVICES"] = group
            label = self.label(index, group)
            log = self.log_dir / f"agent-{stamp}-{index + 1}.log"
            self.report.logs.append(log)
            with self._lock:
                self.children.append(
                    Child(
                        agent_argv(self.path, count),
                        env=env,
                        cwd=self.cwd,
                        log_path=log,
                        echo=self._echo_for(label),
                    )
                )
            what = f"{count} run{'s' if count != 1 else ''}" if count else "runs until done"
            where = f" on CUDA_VISIBLE_DEVICES={group}" if group is not None else ""
            self.say(f"started W&B agent {index + 1} ({what}{where}), log {log}")

    def _echo_for(self, label: str) -> Callable[[bytes], None] | None:
        echo = self.echo
        return (lambda chunk: echo(label, chunk)) if echo is not None else None

    # -- signals -----------------------------------------------------------------------------
    def _on_signal(self, signum: int, _frame: Any) -> None:
        if self._interrupt.is_set():
            self._kill_now.set()
            self.say("killing the running runs now")
            return
        self._interrupt.set()
        self.report.interrupted = True
        self.report.signal = signum
        self.say(
            f"stopping: the W&B agents end their runs (SIGTERM, SIGKILL after {self.grace:g}s; "
            "press Ctrl-C again to kill now)"
        )
        threading.Thread(target=self._wind_down, daemon=True).start()

    def _wind_down(self) -> None:
        """Move every agent through W&B's tiers: wait, SIGTERM the runs, SIGKILL them."""
        self._tier()  # 1: the agent stops starting runs and waits for its runs
        time.sleep(TIER_MIN_GAP)  # signals sent closer together merge into one
        self._kill_now.wait(TIER_GAP - TIER_MIN_GAP)
        self._tier()  # 2: the agent sends its runs SIGTERM and waits
        time.sleep(TIER_MIN_GAP)
        deadline = time.monotonic() + self.grace
        while time.monotonic() < deadline and not self._kill_now.is_set():
            if self._all_ended():
                return
            self._kill_now.wait(0.2)
        self._tier()  # 3: the agent sends its runs SIGKILL and exits
        end = time.monotonic() + 5
        while time.monotonic() < end:
            if self._all_ended():
                return
            time.sleep(0.1)
        # An agent that did not get that far: its runs sit in their own process groups,
        # so kill them by name before the agent (a killed agent cannot tell them).
        for child in self._children():
            for pid in child_pids(child.pid):
                signal_group(pid, signal.SIGKILL)
            child.signal(signal.SIGKILL)

    def _children(self) -> list[Child]:
        with self._lock:
            return list(self.children)

    def _all_ended(self) -> bool:
        return all(child.proc.poll() is not None for child in self._children())

    def _tier(self) -> None:
        for child in self._children():
            if child.proc.poll() is None:
                send_signal(child.pid, signal.SIGINT)
