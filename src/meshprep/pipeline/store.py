"""Where a run's outputs go: a local folder (default) or any fsspec URL.

Per asset (DESIGN.md section 2)::

    OUT/objects/<id[:2]>/<id>/   watertight.npz, surface.npz, sdf.npz, meta.json

Each asset's files are first written to a private *staging* folder, then published: every data
file is moved into place (``os.replace`` locally; upload to a temporary name and rename on a
remote filesystem) and ``meta.json`` goes last. An asset whose ``meta.json`` is in place is
complete; ``meta.json`` is the completion marker the runner trusts when it resumes.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path

from .sources import is_uri

META = "meta.json"
STAGING = ".staging"


class OutputStore:
    """The output root of a run, local or remote.

    Parameters
    ----------
    root : str
        A local folder path, or a URL fsspec understands (``s3://bucket/dataset``,
        ``file:///data/out`` ...). Remote roots need ``pip install fsspec`` and the protocol's
        package (``s3fs``, ``gcsfs`` ...).
    """

    def __init__(self, root: str | os.PathLike[str]):
        self.root = os.fspath(root)
        self.is_local = not is_uri(self.root)
        self._fs = None
        if self.is_local:
            self.root = str(Path(self.root).resolve())
        else:
            import fsspec

            self._fs, self._fs_root = fsspec.core.url_to_fs(self.root)

    def __reduce__(self):
        return OutputStore, (self.root,)

    def asset_path(self, asset_id: str) -> str:
        """Folder (or URL prefix) of one asset's published files."""
        return self.join("objects", asset_id[:2], asset_id)

    def join(self, *parts: str) -> str:
        """Path of ``parts`` under the root."""
        if self.is_local:
            return os.path.join(self.root, *parts)
        return "/".join([self._fs_root.rstrip("/"), *parts])

    def new_staging(self, asset_id: str) -> Path:
        """A fresh, empty local folder to write one asset's files into."""
        if self.is_local:
            path = Path(self.root, STAGING, f"{asset_id}.{uuid.uuid4().hex[:8]}")
            path.mkdir(parents=True)
            return path
        return Path(tempfile.mkdtemp(prefix=f"meshprep-{asset_id[:16]}-"))

    def publish(self, staging: Path, asset_id: str) -> list[str]:
        """Move every file of ``staging`` into the asset's folder, ``meta.json`` last.

        Returns
        -------
        list of str
            Names of the published files.
        """
        names = sorted(p.relative_to(staging).as_posix() for p in staging.rglob("*")
                       if p.is_file())
        names = [n for n in names if n != META] + ([META] if META in names else [])
        target = self.asset_path(asset_id)
        if self.is_local:
            for name in names:
                os.makedirs(os.path.dirname(os.path.join(target, name)), exist_ok=True)
                os.replace(staging / name, os.path.join(target, name))
        else:
            self._fs.makedirs(target, exist_ok=True)
            for name in names:
                final = f"{target}/{name}"
                folder, _, base = final.rpartition("/")
                self._fs.makedirs(folder, exist_ok=True)
                temporary = f"{folder}/.{base}.{uuid.uuid4().hex[:8]}.tmp"
                self._fs.put_file(str(staging / name), temporary)
                self._fs.mv(temporary, final)
        self.discard(staging)
        return names

    def discard(self, staging: Path) -> None:
        """Remove a staging folder and whatever is in it."""
        shutil.rmtree(staging, ignore_errors=True)

    def read_meta(self, asset_id: str) -> dict | None:
        """The published ``meta.json`` of an asset, or None when it is not (completely) there."""
        path = f"{self.asset_path(asset_id)}/{META}"
        try:
            if self.is_local:
                with open(path, encoding="utf-8") as stream:
                    return json.load(stream)
            with self._fs.open(path, "r", encoding="utf-8") as stream:
                return json.load(stream)
        except (OSError, ValueError):
            return None

    def put_file(self, local: str | os.PathLike[str], name: str) -> str:
        """Copy a local file to ``name`` under the root (atomically), returning its path."""
        final = self.join(name)
        if self.is_local:
            if os.path.abspath(local) != os.path.abspath(final):
                temporary = f"{final}.{uuid.uuid4().hex[:8]}.tmp"
                shutil.copyfile(local, temporary)
                os.replace(temporary, final)
        else:
            self._fs.makedirs(final.rpartition("/")[0], exist_ok=True)
            temporary = f"{final}.{uuid.uuid4().hex[:8]}.tmp"
            self._fs.put_file(os.fspath(local), temporary)
            self._fs.mv(temporary, final)
        return final

    def clear_staging(self) -> None:
        """Remove the staging leftovers of an interrupted run (local roots only)."""
        if self.is_local:
            with contextlib.suppress(FileNotFoundError):
                shutil.rmtree(Path(self.root, STAGING))
