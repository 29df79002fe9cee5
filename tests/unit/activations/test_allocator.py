"""The CLI's allocator setting: applied once on glibc, a harmless no-op elsewhere."""

from __future__ import annotations

import ctypes
import platform
import subprocess
import sys

import pytest

from autointerp.activations import allocator


def test_applied_once_and_idempotent():
    first = allocator.keep_freed_memory()
    assert allocator.keep_freed_memory() is first
    if sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc":
        assert first is True


def test_no_mallopt_is_a_no_op(monkeypatch):
    """A C library without mallopt (musl, macOS) leaves the process as it is and says so."""

    class NoMallopt:
        def __init__(self, *args, **kwargs):
            pass

    monkeypatch.setattr(allocator, "_done", None)
    monkeypatch.setattr(ctypes, "CDLL", NoMallopt)
    assert allocator.keep_freed_memory() is False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_the_cli_applies_it():
    code = ("import autointerp.activations.allocator as a; from autointerp.cli import main; "
            "main(['scorers', 'list']); print(a._done)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip().splitlines()[-1] == str(platform.libc_ver()[0] == "glibc")
