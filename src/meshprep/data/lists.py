"""Read the public object lists into one table, whatever their format.

Every list becomes a ``pyarrow.Table`` with the columns

    uid          the object's id in its dataset (Objaverse uid, or the sha256 / URL hash)
    source       objaverse | github | thingiverse | url | local
    url          what to download: an Objaverse uid's file, a GitHub blob URL, any URL, a path
    sha256       the expected hash when the list gives one, else null

plus every other column of the list (``aesthetic_score``, ``captions``, ``license`` ...), which
is carried through to the fetched index. Classification and filtering are vectorized with
``pyarrow.compute``: the Objaverse-XL annotations have about 10M rows.

Formats: TRELLIS-style CSV (``sha256, file_identifier, ...``), Objaverse-XL annotation parquet
(``fileIdentifier, source, license, sha256 ...``), Step1X-style JSON (a list of uids or URLs, or
of objects with such fields), plain text (one uid or URL per line), a CSV of paths/URLs, a folder.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from meshprep.errors import MeshprepError

_URL_COLUMNS = ("file_identifier", "fileidentifier", "url", "uri", "path", "local_path",
                "source_url")
_UID = r"[0-9a-f]{32}"
GITHUB_BLOB = r"^https?://github\.com/([^/]+)/([^/]+)/blob/([0-9a-fA-F]{7,40})/(.+)$"
THINGIVERSE_FILE = r"thingiverse\.com/thing:\d+/.*fileId=(\d+)"


class ListError(MeshprepError):
    """An object list cannot be read or has no column naming the objects."""


def read_list(path: str | os.PathLike[str]) -> pa.Table:
    """One table of objects from any supported list (see the module docstring).

    Parameters
    ----------
    path : path-like
        A ``.csv``, ``.parquet``, ``.json``, ``.txt`` list, or a folder of model files.

    Returns
    -------
    pyarrow.Table
        Columns ``uid, source, url, sha256`` first, then the list's other columns.

    Raises
    ------
    ListError
        Unreadable, or no column names the objects.
    """
    path = Path(path)
    try:
        if path.is_dir():
            table = _folder_table(path)
        elif path.suffix.lower() == ".csv":
            table = _csv_table(path)
        elif path.suffix.lower() == ".parquet":
            table = pq.read_table(path)
        elif path.suffix.lower() == ".json":
            table = _json_table(path)
        else:
            table = _lines_table(path)
    except (OSError, pa.ArrowInvalid, ValueError) as exc:
        raise ListError(f"cannot read list {path}: {' '.join(str(exc).split())[:300]}") from exc
    return normalize_list(table, base=path if path.is_dir() else path.parent)


def _folder_table(path: Path) -> pa.Table:
    from meshprep.pipeline.sources import iter_folder

    return pa.table({"path": [str(p.resolve()) for p in iter_folder(path)]})


def _csv_table(path: Path) -> pa.Table:
    """A CSV with its id, hash and URL columns kept as text (a hex hash is not a number)."""
    with open(path, encoding="utf-8-sig") as stream:
        header = next(csv.reader(stream), [])
    text = {n: pa.string() for n in header
            if n.strip().lower() in (*_URL_COLUMNS, "uid", "sha256", "captions")}
    return pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types=text))


def _lines_table(path: Path) -> pa.Table:
    lines = [s.strip() for s in path.read_text(encoding="utf-8").splitlines()]
    return pa.table({"url": [s for s in lines if s and not s.startswith("#")]})


def _json_table(path: Path) -> pa.Table:
    data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, dict):  # {uid: url-or-anything} or {"uids": [...]}
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(data) == 1 and lists:
            data = lists[0]
        else:
            return pa.table({"uid": list(data), "url": [v if isinstance(v, str) else k
                                                        for k, v in data.items()]})
    if not isinstance(data, list):
        raise ValueError("a JSON list must be a list or an object")
    if data and all(isinstance(item, dict) for item in data):
        return pa.Table.from_pylist(data)
    return pa.table({"url": [str(item) for item in data]})


def normalize_list(table: pa.Table, base: Path | None = None) -> pa.Table:
    """Add ``uid, source, url, sha256`` to a raw list table (see :func:`read_list`)."""
    lower = {name.lower(): name for name in table.column_names}
    url_name = next((lower[c] for c in _URL_COLUMNS if c in lower), None)
    uid_name = lower.get("uid")
    if url_name is None and uid_name is None:
        raise ListError(f"no column names the objects: expected one of {_URL_COLUMNS} or uid")
    text = pc.utf8_trim_whitespace(pc.cast(table[url_name or uid_name], pa.string()))
    sha = (pc.utf8_lower(pc.cast(table[lower["sha256"]], pa.string()))
           if "sha256" in lower else pa.nulls(len(table), pa.string()))
    is_github = pc.match_substring_regex(text, GITHUB_BLOB)
    is_thingiverse = pc.match_substring_regex(text, THINGIVERSE_FILE)
    is_uid = pc.match_substring_regex(text, f"^{_UID}$")
    is_sketchfab = pc.match_substring_regex(text, r"sketchfab\.com/")
    is_url = pc.match_substring_regex(text, r"^[A-Za-z][A-Za-z0-9+.-]*://")
    source = pc.case_when(
        pc.make_struct(is_github, is_thingiverse, pc.or_(is_uid, is_sketchfab), is_url),
        "github", "thingiverse", "objaverse", "url", "local")
    # Sketchfab (Objaverse 1.0) uids are the 32 hex digits that end the model URL
    objaverse_uid = pc.struct_field(pc.extract_regex(text, f"(?P<uid>{_UID})/?$"), "uid")
    given_uid = (pc.cast(table[uid_name], pa.string()) if uid_name and url_name
                 else pa.nulls(len(table), pa.string()))
    objaverse_uid = pc.if_else(pc.equal(source, "objaverse"), objaverse_uid,
                               pa.scalar(None, pa.string()))
    uid = pc.coalesce(given_uid, objaverse_uid, sha)
    if base is not None:
        text = pc.if_else(pc.equal(source, "local"), _absolute(text, base), text)
    columns = {"uid": uid, "source": source, "url": text, "sha256": sha}
    others = [n for n in table.column_names
              if n not in (uid_name, url_name) and n.lower() != "sha256"]
    out = pa.table({**columns, **{n: table[n] for n in others if n not in columns}})
    # a uid is needed for every row: the URL's own hash stands in when the list has none
    missing = pc.is_null(out["uid"])
    if pc.any(missing).as_py():
        import hashlib

        fixed = [u if u is not None else hashlib.sha256(v.encode()).hexdigest()
                 for u, v in zip(out["uid"].to_pylist(), out["url"].to_pylist(), strict=True)]
        out = out.set_column(0, "uid", pa.array(fixed, pa.string()))
    return out


def _absolute(text: pa.ChunkedArray, base: Path) -> pa.Array:
    values = [v if v is None or os.path.isabs(v) else str((base / v).resolve())
              for v in text.to_pylist()]
    return pa.array(values, pa.string())


def filter_list(table: pa.Table, *, min_aesthetic: float | None = None,
                sources: tuple[str, ...] | None = None, limit: int | None = None) -> pa.Table:
    """Rows to fetch: ``aesthetic_score >= min_aesthetic``, of ``sources``, the first ``limit``."""
    mask = None
    if min_aesthetic is not None:
        if "aesthetic_score" not in table.column_names:
            raise ListError("--min-aesthetic needs an aesthetic_score column")
        mask = pc.greater_equal(table["aesthetic_score"], min_aesthetic)
    if sources:
        keep = pc.is_in(table["source"], pa.array(list(sources)))
        mask = keep if mask is None else pc.and_(mask, keep)
    if mask is not None:
        table = table.filter(pc.fill_null(mask, False))
    return table.slice(0, limit) if limit is not None else table
