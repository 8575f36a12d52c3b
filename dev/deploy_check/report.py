"""The report at the end: where each task instance ran, and the timings per task, per worker and per step."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dev.deploy_check.check import TaskRun


def placement(tasks: list[TaskRun]) -> list[str]:
    """One line per task instance, ``<dag_id>.<task_id> worker <hostname>``, round by round."""
    lines = []
    for round_ in sorted({t.round for t in tasks}):
        lines.append(f"round {round_}:")
        ordered = sorted((t for t in tasks if t.round == round_), key=lambda t: (t.start is None, t.start))
        lines += [f"{t.name} worker {t.hostname or '-'}" for t in ordered]
    return lines


def per_task(tasks: list[TaskRun]) -> list[str]:
    rounds = sorted({t.round for t in tasks})
    seconds: dict[str, dict[int, float]] = defaultdict(dict)
    for t in tasks:
        seconds[t.name][t.round] = t.seconds
    width = max((len(name) for name in seconds), default=10)
    lines = [f"  {'task':<{width}} " + " ".join(f"{'round ' + str(r):>9}" for r in rounds)]
    for name, by_round in seconds.items():
        lines.append(f"  {name:<{width}} " + " ".join(f"{by_round.get(r, 0):>8.1f}s" for r in rounds))
    return lines


def per_worker(tasks: list[TaskRun]) -> list[str]:
    busy: dict[str, list[float]] = defaultdict(list)
    for t in tasks:
        if t.hostname:
            busy[t.hostname].append(t.seconds)
    return [
        f"  {host}: {len(times)} task instances, {sum(times):.1f} s busy, longest {max(times):.1f} s"
        for host, times in sorted(busy.items())
    ]


def report(tasks: list[TaskRun], steps: list[tuple[str, float]]) -> list[str]:
    lines = ["\n== where each task instance ran (REST API task instances' hostname)"]
    lines += placement(tasks)
    lines += ["\n== seconds per task (start to end of the task instance)"]
    lines += per_task(tasks)
    lines += ["\n== per worker"]
    lines += per_worker(tasks)
    lines += ["\n== seconds per step"]
    lines += [f"  {name:<45} {seconds:>6.1f}" for name, seconds in steps]
    return lines
