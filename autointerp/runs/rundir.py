"""The run folder: created safely inside the results folder, locked while a run uses it, writes made loud.

- :func:`open_run_dir` creates ``<results_dir>/<name>/`` and refuses, in one line, a results folder that is a
  file or cannot be written, and a name that would leave the results folder.
- :class:`RunLock` is an OS lock (``fcntl.flock``) on ``<run>/.lock``: a second invocation on the same run
  folder refuses at once instead of paying every request twice. The kernel drops the lock when the process
  dies, so even ``kill -9`` never leaves a stale lock.
- :func:`storage_errors` turns OSError / sqlite3.OperationalError raised while writing results (disk full,
  read-only file system, permissions) into a one-line :class:`~autointerp.errors.StorageError`.
"""

from __future__ import annotations

import errno
import fcntl
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self

from autointerp.errors import RunLocked, StorageError

LOCK_FILE = ".lock"

_STORAGE_ERRNOS = {
    errno.ENOSPC,
    errno.EDQUOT,
    errno.EROFS,
    errno.EACCES,
    errno.EPERM,
    errno.EFBIG,
    errno.ENOTDIR,
    errno.EEXIST,
    errno.EISDIR,
}


def check_name(name: str) -> str:
    """A run name is one plain folder name: no separators, not '.', '..' or empty (raises ValueError)."""
    if not name or name.strip() != name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise ValueError(f"expected a plain folder name (no '/', not '.' or '..'), got {name!r}")
    return name


def open_run_dir(results_dir: Path, name: str) -> Path:
    """``results_dir/name``, created if needed; one-line StorageError when that is impossible."""
    results_dir = Path(results_dir)
    try:
        check_name(name)
    except ValueError as exc:
        raise StorageError(f"run name: {exc}") from None
    if results_dir.exists() and not results_dir.is_dir():
        raise StorageError(f"results folder {results_dir} is a file, not a folder; choose another --results-dir")
    run_dir = results_dir / name
    if run_dir.exists() and not run_dir.is_dir():
        raise StorageError(f"run folder {run_dir} is a file, not a folder; remove it or choose another --name")
    if run_dir.resolve().parent != results_dir.resolve():  # e.g. a symlinked name pointing elsewhere
        raise StorageError(f"run folder {run_dir} resolves outside the results folder {results_dir}")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        if is_storage_error(exc):
            raise StorageError(f"cannot write to results folder {results_dir}: {describe_os_error(exc)}") from None
        raise StorageError(  # e.g. ENOENT under /proc: the parent cannot hold folders
            f"cannot create run folder {run_dir}: {exc.strerror or type(exc).__name__}; choose another --results-dir"
        ) from None
    with storage_errors(f"results folder {results_dir}"):
        probe = run_dir / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    return run_dir


def describe_os_error(exc: BaseException) -> str:
    """A short reason for an OSError / sqlite error: 'disk full', 'permission denied', ..."""
    if isinstance(exc, sqlite3.Error):
        text = str(exc)
        return "disk full" if "full" in text else f"database error: {text}"
    code = getattr(exc, "errno", None)
    if code in (errno.ENOSPC, errno.EDQUOT):
        return "disk full"
    if code == errno.EROFS:
        return "read-only file system"
    if code in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if code == errno.EFBIG:
        return "file too large"
    if code == errno.ENOTDIR:
        return "a file is in the way of a folder"
    return getattr(exc, "strerror", None) or type(exc).__name__


def is_storage_error(exc: BaseException) -> bool:
    if isinstance(exc, sqlite3.OperationalError):
        text = str(exc).lower()
        return any(w in text for w in ("full", "readonly", "read-only", "unable to open", "disk i/o", "locked"))
    return isinstance(exc, OSError) and getattr(exc, "errno", None) in _STORAGE_ERRNOS


@contextmanager
def storage_errors(where: str) -> Iterator[None]:
    """Re-raise write failures under ``where`` as one-line StorageErrors (other errors pass unchanged)."""
    try:
        yield
    except (OSError, sqlite3.OperationalError) as exc:
        if not is_storage_error(exc):
            raise
        path = getattr(exc, "filename", None)
        at = f" ({path})" if path else ""
        raise StorageError(
            f"cannot write to {where}{at}: {describe_os_error(exc)}; finished records are saved"
        ) from None


class RunLock:
    """An exclusive, non-blocking ``flock`` on ``<run_dir>/.lock`` for the life of one invocation."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> Self:
        with storage_errors(f"run folder {self.path.parent}"):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
            finally:
                os.close(fd)
            who = f" (pid {holder})" if holder.isdigit() else ""
            raise RunLocked(
                f"run folder {self.path.parent} is in use by another autointerp process{who}; "
                "wait for it to finish or use another --name"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __enter__(self) -> Self:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
