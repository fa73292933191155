"""FBX files Blender refuses (ASCII, FBX 6.x) or that come without Blender: read with ufbx.

:func:`meshprep.load` tries the Blender backend first, as for every format only Blender reads;
when Blender is not installed or its importer refuses an FBX, :func:`read_fbx` reads it with
`ufbx <https://ufbx.github.io/>`_ (``pip install "meshprep[fbx]"``) in a worker process
(:mod:`meshprep.io.fbx_worker`: the ufbx Python bindings are young, and a crash there must cost
that process only). Both routes give the same coordinates: right-handed, +Y up, metres, the
first frame of an animation with skinning applied. When no reader can read the file, the one-line
error names the FBX version read from its header.
"""

from __future__ import annotations

import importlib.util
import os
import re
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import trimesh

from meshprep.errors import CorruptFileError, LoadError, UnsupportedFormatError

WORKER = Path(__file__).with_name("fbx_worker.py")
#: how long the ufbx worker may run on one file (seconds)
DEFAULT_TIMEOUT = float(os.environ.get("MESHPREP_FBX_TIMEOUT", "120"))
INSTALL = 'pip install "meshprep[fbx]"'

_BINARY_PREFIX = b"Kaydara FBX Binary"
_ASCII_VERSION = re.compile(rb"FBXVersion:\s*(\d+)")
_ASCII_COMMENT = re.compile(rb";\s*FBX\s+(\d+)\.(\d+)\.(\d+)\s+project file")


def ufbx_available() -> bool:
    """Whether ufbx (the ``fbx`` extra) is installed."""
    return importlib.util.find_spec("ufbx") is not None


def fbx_version(path: str | os.PathLike[str]) -> tuple[int | None, str]:
    """The FBX version a file's header declares and its encoding.

    Parameters
    ----------
    path : str or os.PathLike
        An FBX file.

    Returns
    -------
    tuple of (int or None, str)
        The version as FBX writes it (``7400`` for 7.4) and ``"binary"`` or ``"ASCII"``; the
        version is None when the header does not say (``"unknown"`` encoding when the file is
        not FBX at all).
    """
    with open(path, "rb") as f:
        head = f.read(4096)
    if head.startswith(_BINARY_PREFIX):
        # "Kaydara FBX Binary" + spaces + NUL, 0x1A, 0x00, then the version (uint32 LE)
        end = head.find(b"\x00", len(_BINARY_PREFIX))
        if end < 0 or len(head) < end + 7:
            return None, "binary"
        return struct.unpack("<I", head[end + 3:end + 7])[0], "binary"
    if b"\x00" in head[:1024]:
        # NUL bytes: not text, whatever node names ("FBXHeaderExtension") the bytes contain
        return None, "binary" if b"Kaydara" in head[:64] else "unknown"
    found = _ASCII_VERSION.search(head)
    if found:
        return int(found.group(1)), "ASCII"
    found = _ASCII_COMMENT.search(head)
    if found:
        major, minor, patch = (int(g) for g in found.groups())
        return major * 1000 + minor * 100 + patch * 10, "ASCII"
    looks_ascii = b"FBXHeaderExtension" in head or head.lstrip().startswith(b";")
    return None, "ASCII" if looks_ascii else "unknown"


def describe_version(path: str | os.PathLike[str]) -> str:
    """``"FBX 6100 (ASCII)"``, ``"FBX 7400 (binary)"`` or ``"FBX (version unknown)"``."""
    version, encoding = fbx_version(path)
    if version is None:
        return "FBX (version unknown)" if encoding == "unknown" else f"FBX ({encoding}, no version)"
    return f"FBX {version} ({encoding})"


def read_fbx(path: str | os.PathLike[str], refusal: str | None,
             timeout: float = DEFAULT_TIMEOUT) -> trimesh.Scene:
    """Read an FBX with ufbx into a scene: one geometry per mesh instance, node transforms kept.

    Parameters
    ----------
    path : str or os.PathLike
        The FBX file.
    refusal : str or None
        Why Blender's importer refused the file, or None when Blender is not installed (only
        used in the error when ufbx cannot read it either).
    timeout : float
        Seconds the worker process may run.

    Returns
    -------
    trimesh.Scene
        Geometries in their nodes' local coordinates with the nodes' world matrices (identity
        for skinned meshes, which are posed in world space), right-handed +Y up, metres;
        per-face colours are the materials' base colours.

    Raises
    ------
    UnsupportedFormatError
        ufbx is not installed (the message names the FBX version and how to install it).
    CorruptFileError
        Blender refused the file and ufbx could not read it either (or its worker crashed or
        ran past ``timeout``); UnsupportedFormatError instead when Blender is not installed.
    """
    path = Path(path)
    if not ufbx_available():
        raise UnsupportedFormatError(_no_reader_message(path, refusal))
    with tempfile.TemporaryDirectory(prefix="meshprep_fbx_") as folder:
        output = Path(folder) / "scene.npz"
        problem = _run_worker(path, output, folder, timeout)
        if problem is not None:
            raise _failed_error(path, refusal, problem)
        with np.load(output, allow_pickle=False) as arrays:
            return _scene(dict(arrays))


def _refusal_text(path: Path, refusal: str | None) -> str | None:
    """Blender's refusal, except that it calls every file without its exact binary magic
    "ASCII": a binary file is not called ASCII here."""
    if refusal is None or "ascii" not in refusal.lower():
        return refusal
    if fbx_version(path)[1] != "binary":
        return refusal
    return "its binary header is not the exact 'Kaydara FBX Binary' magic Blender checks"


def _no_reader_message(path: Path, refusal: str | None) -> str:
    """One line: the file's FBX version, and that no installed reader takes it."""
    refusal = _refusal_text(path, refusal)
    head = f"{path.name}: {describe_version(path)}"
    if refusal is None:
        return (f'{head}: needs the Blender backend (pip install "meshprep[blender]") or ufbx '
                f"({INSTALL})")
    return (f"{head}: Blender's importer refuses it ({refusal}) and ufbx is not installed "
            f"({INSTALL})")


def _failed_error(path: Path, refusal: str | None, problem: str) -> LoadError:
    """One line: the file's FBX version, and why each reader failed.

    Unsupported when Blender, which might read the file, is not installed; corrupt when both
    readers failed.
    """
    refusal = _refusal_text(path, refusal)
    head = f"{path.name}: {describe_version(path)}: ufbx cannot read it ({problem})"
    if refusal is None:
        return UnsupportedFormatError(
            f'{head}; it needs the Blender backend: pip install "meshprep[blender]"')
    return CorruptFileError(f"{head} and Blender's importer refuses it ({refusal})")


def _run_worker(path: Path, output: Path, folder: str, timeout: float) -> str | None:
    """Run the ufbx worker; None on success, else a one-line reason."""
    try:
        done = subprocess.run([sys.executable, "-P", str(WORKER), str(path.resolve()), str(output)],
                              cwd=folder, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"ran past {timeout:g} s"
    if done.returncode == 0 and output.is_file():
        return None
    tail = " ".join((done.stderr or done.stdout or "").split()[-30:])
    return tail[:300] or f"worker exited with {done.returncode}"


def _scene(arrays: dict[str, np.ndarray]) -> trimesh.Scene:
    """Build the trimesh scene from the worker's arrays."""
    scene = trimesh.Scene()
    count = sum(1 for key in arrays if key.startswith("v"))
    for i in range(count):
        mesh = trimesh.Trimesh(arrays[f"v{i}"], arrays[f"f{i}"], process=False, validate=False)
        colors = np.clip(np.round(arrays[f"c{i}"] * 255), 0, 255).astype(np.uint8)
        mesh.visual = trimesh.visual.ColorVisuals(mesh, face_colors=colors)
        scene.add_geometry(mesh, geom_name=str(arrays[f"n{i}"]), transform=arrays[f"t{i}"])
    return scene


def refusal_reason(error: LoadError) -> str | None:
    """Why the Blender backend did not read a file, shortened; None when it is not installed."""
    from meshprep.blender import BlenderUnavailable

    if isinstance(error, BlenderUnavailable):
        return None
    text = str(error).split(": ", 1)[-1]
    return text[:160] + ("..." if len(text) > 160 else "")
