"""The processes of the deployment: each started in a session of its own with its output in a log file, and all
of them (with whatever they started) stopped at the end, also after a failure or Ctrl-C.

A component's children share its session even when they take a process group of their own (Airflow's task
supervisor does), so stopping a component ends every process in its session: first SIGTERM to its process
group (a clean shutdown), then SIGKILL to whatever of the session is left. The session ids are written to
``sessions.json`` in the home folder, so a check that was itself killed leaves a trail the next one cleans up.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

from dev.deploy_check.config import clean_environ
from dev.deploy_check.errors import DeployError


@dataclass
class Component:
    """One started process: ``name`` (``scheduler``, ``worker1``...) and its log file."""

    name: str
    command: list[str]
    log: Path
    process: subprocess.Popen

    @property
    def session(self) -> int:
        return self.process.pid  # the leader of its own session (start_new_session)

    def alive(self) -> bool:
        return self.process.poll() is None

    def failed(self, message: str) -> DeployError:
        return DeployError(self.name, message, self.log)

    def check(self) -> None:
        """:raises DeployError: the process has exited."""
        if not self.alive():
            raise self.failed(f"exited with code {self.process.returncode} ({' '.join(self.command)})")


def session_processes(sessions: set[int]) -> list[psutil.Process]:
    """The live processes of these sessions (zombies left out)."""
    found = []
    for proc in psutil.process_iter(["status"]):
        try:
            if proc.info["status"] != psutil.STATUS_ZOMBIE and os.getsid(proc.pid) in sessions:
                found.append(proc)
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return found


class Supervisor:
    """Starts the components and stops them all, in reverse order.

    :param logs: the folder of the component logs.
    :param trail: the file that lists the sessions started, for a later check to clean up after a killed one.
    """

    def __init__(self, logs: Path, trail: Path):
        self.logs = logs
        self.trail = trail
        self.components: list[Component] = []

    def start(self, name: str, command: list[str], env: dict[str, str], cwd: Path | None = None) -> Component:
        self.logs.mkdir(parents=True, exist_ok=True)
        log = self.logs / f"{name}.log"
        with open(log, "ab") as out:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**clean_environ(), **env},
                cwd=cwd,
                start_new_session=True,
            )
        component = Component(name, command, log, process)
        self.components.append(component)
        self._write_trail()
        return component

    def get(self, name: str) -> Component:
        return next(c for c in self.components if c.name == name)

    def check_all(self) -> None:
        """:raises DeployError: naming the first component that has exited."""
        for component in self.components:
            component.check()

    def wait_for(
        self, what: str, ready: Callable[[], bool], timeout: float, component: Component | None = None
    ) -> float:
        """Wait until ``ready()``; every component must stay up meanwhile.

        :return: the seconds it took.
        :raises DeployError: a component exited, or ``timeout`` passed (naming ``component``, with its log).
        """
        started = time.monotonic()
        while True:
            self.check_all()
            try:
                if ready():
                    return time.monotonic() - started
            except Exception:  # not up yet: connection refused, 503...
                pass
            if time.monotonic() - started > timeout:
                if component is not None:
                    raise component.failed(f"not {what} after {timeout:.0f} s")
                raise DeployError("deploy check", f"not {what} after {timeout:.0f} s")
            time.sleep(0.5)

    # -------------------------------------------------------------------------------------------------- stop

    def stop_all(self, timeout: float = 20.0) -> list[str]:
        """Stop every component, the last started first; returns the lines to print about it."""
        lines = []
        for component in reversed(self.components):
            lines.append(self._stop(component, timeout))
        left = session_processes({c.session for c in self.components})
        for proc in left:
            _kill(proc)
        if left:
            lines.append(f"killed {len(left)} process(es) left in the components' sessions")
        self.components.clear()
        self.trail.unlink(missing_ok=True)
        return lines

    def _stop(self, component: Component, timeout: float) -> str:
        if component.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(component.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while component.alive() and time.monotonic() < deadline:
            time.sleep(0.2)
        forced = component.alive()
        rest = session_processes({component.session})
        for proc in rest:
            _kill(proc)
        component.process.wait(timeout=10)
        how = "killed" if forced else "stopped"
        extra = f", {len(rest)} leftover process(es) killed" if rest and not forced else ""
        return f"{component.name}: {how} (exit {component.process.returncode}{extra})"

    def _write_trail(self) -> None:
        self.trail.parent.mkdir(parents=True, exist_ok=True)
        sessions = [{"name": c.name, "session": c.session, "command": c.command} for c in self.components]
        self.trail.write_text(json.dumps(sessions, indent=1))


def _kill(proc: psutil.Process) -> None:
    with contextlib.suppress(psutil.Error):
        proc.kill()


def clean_up_after_earlier_check(trail: Path) -> int:
    """Kill what an earlier check that was itself killed left running (the sessions in its trail file).

    Only processes of those sessions whose command line is one of the deployment's (Airflow, Celery, the sandbox)
    are killed: a session id can have been reused by now.

    :return: how many processes were killed.
    """
    if not trail.exists():
        return 0
    try:
        sessions = {int(entry["session"]) for entry in json.loads(trail.read_text())}
    except (ValueError, KeyError, TypeError):
        sessions = set()
    killed = 0
    for proc in session_processes(sessions):
        try:
            cmdline = " ".join(proc.cmdline())
        except psutil.Error:
            continue
        if any(word in cmdline for word in ("airflow", "celery", "include.sandbox")):
            _kill(proc)
            killed += 1
    trail.unlink(missing_ok=True)
    return killed
