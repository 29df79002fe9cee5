"""A local Hugging Face Hub cache in huggingface_hub's own on-disk layout, for offline tests.

``<cache>/models--ORG--NAME/{blobs/<hash>, snapshots/<commit>/<path> -> ../../blobs/<hash>, refs/main}``:
with ``HF_HUB_OFFLINE=1``, ``huggingface_hub.snapshot_download`` resolves ``refs/main`` and returns the snapshot.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def write_repo(cache: Path, repo_id: str, files: dict[str, Path | bytes], commit: str = "0" * 39 + "1") -> Path:
    """Put ``files`` (repo path -> local file or bytes) into ``cache`` as one commit of ``repo_id``; return the snapshot."""
    repo = Path(cache) / ("models--" + repo_id.replace("/", "--"))
    snap = repo / "snapshots" / commit
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    for rel, content in files.items():
        data = content if isinstance(content, bytes) else Path(content).read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        target = snap / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists() or target.is_symlink():
            target.unlink()
        target.symlink_to(os.path.relpath(blob, target.parent))
    return snap


def write_folder(cache: Path, repo_id: str, folder: Path, prefix: str = "") -> Path:
    """Every file of a local folder into the repo, under ``prefix``."""
    files = {f"{prefix}{p.relative_to(folder)}": p for p in sorted(Path(folder).rglob("*")) if p.is_file()}
    return write_repo(cache, repo_id, files)
