"""Fixtures shared by the meshprep.io tests."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = REPO_ROOT / "tests" / "data"
# the development corpus lives beside the repository, never at an absolute path
CORPUS_DIR = REPO_ROOT / ".." / "shared" / "corpus"


@pytest.fixture
def data_dir() -> Path:
    """Folder of the small fixture files copied from the corpus (see tests/data/LICENSES.md)."""
    return DATA_DIR


@pytest.fixture
def corpus_dir() -> Path:
    """The development corpus; the test is skipped when it is not there."""
    if not (CORPUS_DIR / "manifest.csv").is_file():
        pytest.skip("development corpus ../shared/corpus not available")
    return CORPUS_DIR.resolve()


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point ``tempfile`` at a folder inside ``tmp_path`` so extraction leftovers are visible."""
    import tempfile

    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder
