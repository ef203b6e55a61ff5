"""One process per key: an exclusive lock on the journal (a second node on the same journal is refused at start),
and the error raised when another process is found sending from the node's key (which the journal lock cannot see
when that process keeps a journal of its own)."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from verinfer.errors import ConfigError


class KeyInUseError(ConfigError):
    """Another process signs with this node's key, or runs on its journal: two nodes on one key deliver results
    twice and fight over nonces."""


class JournalLock:
    """An exclusive `flock` on `<journal>.lock`, held while the node runs; the kernel drops it if the process dies
    (even on kill -9), so a crash never leaves a stale lock behind."""

    def __init__(self, journal_path: Path) -> None:
        self.path = Path(str(journal_path) + ".lock")
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        file = self.path.open("a+")
        try:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.seek(0)
            holder = file.read().strip() or "unknown"
            file.close()
            raise KeyInUseError(
                f"another node process (pid {holder}) runs on the journal {self.path.with_suffix('')}: stop it first; "
                "to run a second node, give it its own key (keys.*) and its own journal_path"
            ) from None
        file.seek(0)
        file.truncate()
        file.write(f"{os.getpid()}\n")
        file.flush()
        self._file = file

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None
