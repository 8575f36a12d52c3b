"""The one error the check raises: which component failed, what happened, and the end of its log."""

from __future__ import annotations

from pathlib import Path


class DeployError(Exception):
    """A failure of one part of the deployment.

    :param component: what failed: ``scheduler``, ``worker1``, ``PostgreSQL``, ``bc_sales_sync.item_product``...
    :param message: what happened, in a sentence.
    :param log: the log file to show the end of.
    """

    def __init__(self, component: str, message: str, log: Path | None = None):
        super().__init__(f"{component}: {message}")
        self.component = component
        self.message = message
        self.log = log

    def describe(self, lines: int = 40) -> str:
        text = f"FAILED: {self.component}: {self.message}"
        if self.log is not None:
            text += f"\n--- last {lines} lines of {self.log} ---\n{tail(self.log, lines)}"
        return text


def tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a file (what there is of it)."""
    try:
        with open(path, "rb") as file:
            file.seek(0, 2)
            size = file.tell()
            file.seek(max(0, size - 200 * lines))
            text = file.read().decode(errors="replace")
    except OSError as exc:
        return f"(cannot read {path}: {exc})"
    return "\n".join(text.splitlines()[-lines:])
