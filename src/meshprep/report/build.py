"""``meshprep report``: a static site over a run's output, opened from ``file://``, no network.

::

    OUT/report/index.html        overview (counts, stages, throughput, histograms, failures
                                 ranked), curation, disk (bytes per file kind, measured once
                                 at report time: :mod:`meshprep.pipeline.disk`) and the
                                 gallery (filter, sort, pages)
    OUT/report/data/index.js     one row per asset, columnar (loaded by a script tag: file://
                                 pages may not fetch())
    OUT/report/failed/<id>.html  one page per failed asset: stage, error, source
    OUT/report/assets/<id>.html  one page per asset whose store folder holds material passes,
                                 parts or a rig: one view's passes side by side, named (issue
                                 29); the parts in colours with their legend, the skeleton over
                                 the mesh (issue 30)
    OUT/report/structure/        those parts and skeleton views, ``<id>_parts.png`` and
                                 ``<id>_skeleton.png`` (rendered when missing or older than the
                                 store's ``parts.npz`` / ``rig.npz``)
    OUT/report/report.js, .css   shipped with meshprep

Thumbnails are the run's own renders (``renders/input`` and ``renders/watertight``, view 000);
an asset without them shows a placeholder (``--render-missing`` renders the watertight view).
An asset's passes (:func:`pass_images`: the ``hunyuan3d-paint`` layout's ``render_tex`` or a
``renders/`` folder with ``NNN_albedo.png``, ``NNN_mr.png``...) are shown on its own page, which
its gallery card links to. So are its parts (``parts.npz``: the mesh with each part in a colour
of :data:`meshprep.render.overlays.PART_PALETTE`, and a legend) and its skeleton (``rig.npz``:
bones and joints drawn over the grey mesh), seen by the thumbnails' first camera.
"""

from __future__ import annotations

import html
import json
import math
import os
import shutil
import time
from importlib import resources
from pathlib import Path

import numpy as np

from meshprep.io import atomic_write
from meshprep.pipeline.disk import (
    UNITS_NOTE,
    dataset_note,
    disk_rows,
    human_bytes,
    measure_disk,
    total_line,
)
from meshprep.pipeline.ledger import STATUSES, Ledger
from meshprep.pipeline.manifest import infrastructure_line, summarize
from meshprep.sample.layouts import stored_watertight

CARD_COLUMNS = ("status", "stage", "error_class", "curation", "curation_reason", "format",
                "seconds", "input_faces",
                "watertight_faces", "watertight_genus", "watertight_components")
SORTABLE = ("seconds", "input_faces", "input_vertices", "watertight_faces",
            "watertight_genus", "watertight_components", "salient_edges", "plane_share",
            "thinness", "objects", "ground_tile_share", "asset_id")
#: the words each curation rule's reason starts with
RULE_LABELS = ("plane-dominated", "flat", "ground tile", "multi-object", "floaters",
               "broken animation", "duplicate")
#: the camera set whose first view the report renders (thumbnails, parts, skeleton)
THUMBNAIL_CAMERAS = "scoring4"
#: the report's own renders of an asset's structure (``report/structure/<id>_<kind>.png``)
STRUCTURE = "structure"
#: their width and height in pixels
STRUCTURE_SIZE = 256
#: legend entries listed on an asset page at most
LEGEND_MAX = 200


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as tmp, open(tmp, "w", encoding="utf-8") as stream:
        stream.write(text)


def _rows(ledger: Ledger, root: Path, render_missing: bool):
    """Index rows (dicts) for every asset, thumbnails checked on disk (the structure views
    rendered into ``root/report/structure`` when missing)."""
    query = ("SELECT asset_id, source, status, stage, error_class, error_message, seconds, "
             "metrics FROM assets ORDER BY rowid")
    for asset_id, source, status, stage, error_class, message, seconds, metrics in \
            ledger.db.execute(query):
        folder = root / "objects" / asset_id[:2] / asset_id
        row = {"asset_id": asset_id, "source": source, "status": status, "stage": stage,
               "error_class": error_class, "error_message": message, "seconds": seconds,
               "format": Path(source).suffix.lower().lstrip(".") or None,
               "folder": f"../objects/{asset_id[:2]}/{asset_id}"}
        row.update(json.loads(metrics or "{}"))
        for target in ("input", "watertight"):
            thumb = folder / "renders" / target / "000_normal.png"
            if not thumb.exists() and render_missing and target == "watertight" \
                    and stored_watertight(folder) is not None:
                _render_thumbnail(folder)
            row[f"thumb_{target}"] = thumb.exists()
        row["passes_page"] = bool(pass_images(folder))
        row["thumb_salient"] = (folder / "renders" / "salient.png").exists()
        row["thumb_ovoxel"] = (folder / "renders" / "ovoxel.png").exists()
        row["thumb_trellis_voxels"] = (folder / "renders" / "trellis_voxels.png").exists()
        if row["status"] != "failed":
            structure = structure_images(folder, root / "report", asset_id)
            row["structure_parts"] = structure.get("parts")
            row["structure_skeleton"] = structure.get("skeleton")
        row["asset_page"] = bool(row["passes_page"] or row.get("structure_parts")
                                 or row.get("structure_skeleton"))
        yield row


def structure_images(folder: Path, report: Path, asset_id: str) -> dict[str, str]:
    """The asset's parts and skeleton views, rendered into ``report/structure/`` when missing
    or older than their store file.

    Parameters
    ----------
    folder : Path
        The asset's store folder (``OUT/objects/<id[:2]>/<id>``).
    report : Path
        The report folder (``OUT/report``).
    asset_id : str

    Returns
    -------
    dict
        ``"parts"`` (from ``parts.npz``) and ``"skeleton"`` (from ``rig.npz``): each image's
        path relative to ``report``, for those the asset has and that rendered.
    """
    from meshprep.io.parts import PARTS_FILE
    from meshprep.io.rig import RIG_FILE

    images = {}
    for kind, name, render in (("parts", PARTS_FILE, _render_parts),
                               ("skeleton", RIG_FILE, _render_skeleton)):
        data, image = folder / name, report / STRUCTURE / f"{asset_id}_{kind}.png"
        if not data.is_file():
            continue
        if not image.is_file() or image.stat().st_mtime < data.stat().st_mtime:
            try:
                render(data, image)
            except Exception:  # a store file that no longer reads: the page shows no picture
                continue
        images[kind] = f"{STRUCTURE}/{image.name}"
    return images


def _render_parts(data: Path, image: Path) -> None:
    from meshprep.io.parts import read_parts_file
    from meshprep.render.overlays import render_parts_view

    mesh = read_parts_file(data)
    render_parts_view(mesh, mesh.metadata["meshprep_parts"].face_part, image,
                      THUMBNAIL_CAMERAS, size=STRUCTURE_SIZE)


def _render_skeleton(data: Path, image: Path) -> None:
    from meshprep.io.rig import read_rig_file
    from meshprep.render.overlays import render_skeleton_view

    mesh, rig = read_rig_file(data)
    render_skeleton_view(mesh, rig.joints, rig.parents, image, THUMBNAIL_CAMERAS,
                         size=STRUCTURE_SIZE)


#: the passes an asset page shows, in order: file suffix (``NNN<suffix>.png``) and name
PASS_IMAGES = (("", "color"), ("_albedo", "albedo"), ("_mr", "mr"), ("_normal", "normal"),
               ("_normal_cam", "normal_camera"), ("_pos", "position"),
               ("_emission", "emission"), ("_shaded", "shaded"), ("_depth", "depth"),
               ("_mask", "mask"))
#: material passes: a folder holding none of these is not shown as passes
MATERIAL_SUFFIXES = ("_albedo", "_mr", "_pos", "_normal_cam", "_emission")


def pass_images(folder: Path, view: str = "000") -> list[tuple[str, Path]]:
    """One view's passes in an asset's store folder: ``(name, file)`` in :data:`PASS_IMAGES`'s
    order, from the first folder holding a material pass of the view among
    ``hunyuan3d-paint/render_tex`` and ``renders/`` (and its subfolders); empty when none."""
    renders = folder / "renders"
    candidates = [folder / "hunyuan3d-paint" / "render_tex", renders]
    if renders.is_dir():
        candidates += sorted(p for p in renders.iterdir() if p.is_dir())
    for candidate in candidates:
        if any((candidate / f"{view}{suffix}.png").is_file() for suffix in MATERIAL_SUFFIXES):
            return [(name, candidate / f"{view}{suffix}.png") for suffix, name in PASS_IMAGES
                    if (candidate / f"{view}{suffix}.png").is_file()]
    return []


def _asset_page(row: dict, root: Path) -> str:
    """An asset's page: view 000's passes in a row, each with its name under it; its parts in
    colours with their legend; its skeleton over the mesh."""
    folder = root / "objects" / row["asset_id"][:2] / row["asset_id"]
    fields = "".join(f"<tr><th>{k}</th><td>{html.escape(str(row.get(k)))}</td></tr>"
                     for k in ("asset_id", "source", "status", "seconds"))
    return _page(f"asset: {row['asset_id'][:16]}",
                 f"<table>{fields}</table>{_passes_section(row, folder)}"
                 f"{_parts_section(row, folder)}{_skeleton_section(row, folder)}"
                 '<p><a href="../index.html">back to the report</a></p>', prefix="../")


def _passes_section(row: dict, folder: Path) -> str:
    images = pass_images(folder)
    if not images:
        return ""
    source = images[0][1].parent.relative_to(folder).as_posix()
    figures = "".join(
        f'<figure class="pass" data-pass="{html.escape(name)}"><img src="../'
        f'{html.escape(row["folder"])}/{html.escape(path.relative_to(folder).as_posix())}" '
        f'width="256" height="256" alt="{html.escape(name)}" loading="lazy">'
        f"<figcaption>{html.escape(name)}</figcaption></figure>" for name, path in images)
    return (f"<h2>Passes (view 000, {html.escape(source)})</h2>"
            f'<div class="passes">{figures}</div>')


def _structure_figure(image: str, name: str) -> str:
    return (f'<figure class="structure-view"><img src="../{html.escape(image)}" '
            f'width="{STRUCTURE_SIZE}" height="{STRUCTURE_SIZE}" alt="{name}" loading="lazy">'
            f"<figcaption>{name}</figcaption></figure>")


def _swatch(color) -> str:
    return '<span class="swatch" style="background:#{:02x}{:02x}{:02x}"></span>'.format(*color)


def _parts_section(row: dict, folder: Path) -> str:
    """The parts view and its legend: each part's colour, name and face count."""
    from meshprep.io.parts import PARTS_FILE
    from meshprep.render.overlays import part_colors

    if not row.get("structure_parts"):
        return ""
    with np.load(folder / PARTS_FILE, allow_pickle=False) as data:
        names = [str(n) for n in data["names"]]
        counts = np.bincount(data["face_part"], minlength=len(names))
    shown = [i for i in range(len(names)) if counts[i] > 0]
    colors = part_colors(len(names))
    items = "".join(
        f'<li data-part="{i}">{_swatch(colors[i])}{html.escape(names[i])} '
        f"<small>{counts[i]} faces</small></li>" for i in shown[:LEGEND_MAX])
    more = len(shown) - LEGEND_MAX
    note = f"<p>and {more} more parts</p>" if more > 0 else ""
    empty = len(names) - len(shown)
    note += f"<p>{empty} parts without faces (not shown)</p>" if empty else ""
    return (f"<h2>Parts ({len(shown)})</h2><div class=\"structure\">"
            f"{_structure_figure(row['structure_parts'], 'parts')}"
            f'<div><ul class="legend" id="parts-legend">{items}</ul>{note}</div></div>')


def _skeleton_section(row: dict, folder: Path) -> str:
    """The skeleton view, with the joint and root counts and the colours' meaning."""
    from meshprep.io.rig import RIG_FILE
    from meshprep.render.overlays import BONE_COLOR, JOINT_COLOR

    if not row.get("structure_skeleton"):
        return ""
    with np.load(folder / RIG_FILE, allow_pickle=False) as data:
        parents = data["parents"]
    items = (f"<li>{_swatch(BONE_COLOR)}bone (joint to parent)</li>"
             f"<li>{_swatch(JOINT_COLOR)}joint</li>")
    roots = int((parents < 0).sum())
    return (f"<h2>Skeleton ({len(parents)} joints, {roots} root{'s' * (roots != 1)})</h2>"
            f'<div class="structure">{_structure_figure(row["structure_skeleton"], "skeleton")}'
            f'<ul class="legend" id="skeleton-legend">{items}</ul></div>')


def _first_view(source: Path, folder: Path) -> None:
    """The first scoring camera's 128² normal view of a model file into ``folder``."""
    from meshprep.io import load
    from meshprep.render import parse_cameras, render_views

    render_views(load(source), folder, parse_cameras(THUMBNAIL_CAMERAS).first(), size=128,
                 passes=("normal",))


def _render_thumbnail(folder: Path) -> None:
    _first_view(stored_watertight(folder), folder / "renders" / "watertight")


def _histogram_svg(title: str, values: list[float], log: bool = False, bins: int = 20) -> str:
    """A small bar chart as inline SVG (no JavaScript library needed)."""
    data = np.asarray([v for v in values if v is not None and v > (0 if log else -math.inf)],
                      dtype=np.float64)
    if data.size == 0:
        return ""
    data = np.log10(data) if log else data
    counts, edges = np.histogram(data, bins=bins)
    width, height, top = 320, 120, max(int(counts.max()), 1)
    bar = width / bins
    bars = "".join(
        f'<rect x="{i * bar:.1f}" y="{height - c / top * height:.1f}" width="{bar - 1:.1f}" '
        f'height="{c / top * height:.1f}" fill="#546e7a"><title>{c}</title></rect>'
        for i, c in enumerate(counts))
    label = (lambda x: f"{10 ** x:.3g}") if log else (lambda x: f"{x:.3g}")
    return (f'<div class="chart"><h3>{html.escape(title)}</h3><svg width="{width}" '
            f'height="{height + 16}" role="img">{bars}<text x="0" y="{height + 13}" '
            f'font-size="10">{label(edges[0])}</text><text x="{width}" y="{height + 13}" '
            f'font-size="10" text-anchor="end">{label(edges[-1])}</text></svg></div>')


def _overview(summary: dict, rows: list[dict], wall: float | None) -> str:
    counts = summary["counts"]
    spans = "".join(f'<span class="{s}">{counts[s]} {s}</span>' for s in STATUSES if counts[s])
    stage_rows = "".join(
        f"<tr><td>{html.escape(stage)}</td>" + "".join(
            f"<td>{statuses.get(s, 0)}</td>" for s in ("ok", "failed", "skipped")) + "</tr>"
        for stage, statuses in summary["stages"].items())
    errors = "".join(
        f"<tr><td>{e['count']}</td><td>{html.escape(str(e['error_class']))}</td>"
        f"<td>{html.escape(str(e['stage']))}</td><td>{html.escape(str(e['message']))}</td></tr>"
        for e in summary["errors"])
    done = sum(counts[s] for s in ("ok", "failed", "skipped"))
    rate = f"{done / wall:.2f} assets/s over {wall:.0f} s of runs" if wall else "n/a"
    charts = "".join([
        _histogram_svg("faces in (log10)", [r.get("input_faces") for r in rows], log=True),
        _histogram_svg("faces out (log10)", [r.get("watertight_faces") for r in rows], log=True),
        _histogram_svg("seconds per asset", [r.get("seconds") for r in rows
                                             if r["status"] == "ok"]),
        _histogram_svg("watertight seconds", [r.get("watertight_seconds") for r in rows]),
    ])
    return (f'<section id="overview"><h2>Overview</h2><p class="counts">{spans}</p>'
            f"<p>throughput: {rate}; config {html.escape(str(summary['config_hash']))}</p>"
            f'<p id="failure-kinds">{html.escape(infrastructure_line(summary))}</p>'
            "<table><tr><th>stage</th><th>ok</th><th>failed</th><th>skipped</th></tr>"
            f'{stage_rows}</table><div class="charts">{charts}</div>'
            "<h2>Failure reasons</h2><table id=\"errors\"><tr><th>count</th><th>error</th>"
            f"<th>stage</th><th>message</th></tr>{errors}</table></section>")


_GALLERY = """<section><h2>Gallery</h2><div class="controls">
<label>status <select id="filter-status" data-key="status"><option value="">all</option>
</select></label>
<label>format <select id="filter-format" data-key="format"><option value="">all</option>
</select></label>
<label>failure <select id="filter-error" data-key="error"><option value="">all</option>
</select></label>
<label>curation <select id="filter-curation" data-key="curation"><option value="">all</option>
</select></label>
<label>sort by <select id="sort"></select></label>
<select id="order"><option value="desc">descending</option><option value="asc">ascending
</option></select>
<span id="pager"><button id="prev">previous</button><span id="page"></span>
<button id="next">next</button></span></div><div id="gallery"></div></section>"""


#: example thumbnails shown per curation rule in the dataset card
EXAMPLES_PER_RULE = 4


def _rule_examples(rows: list[dict], report: Path) -> dict[str, list[tuple[dict, str]]]:
    """Up to EXAMPLES_PER_RULE (row, image path relative to the report) per rule.

    An asset the run rendered shows its input normal view; a dropped one (skipped before the
    render step) is rendered from its source into ``report/thumbs/`` (128², once).
    """
    examples: dict[str, list[tuple[dict, str]]] = {label: [] for label in RULE_LABELS}
    for row in rows:
        reason = row.get("curation_reason") or ""
        if row.get("curation") not in ("flag", "drop"):
            continue
        for label in RULE_LABELS:
            if label not in reason or len(examples[label]) >= EXAMPLES_PER_RULE:
                continue
            image = _example_image(row, report)
            if image is not None:
                examples[label].append((row, image))
    return examples


def _example_image(row: dict, report: Path) -> str | None:
    if row.get("thumb_input"):
        return f"{row['folder']}/renders/input/000_normal.png"
    thumb = report / "thumbs" / f"{row['asset_id']}.png"
    if not thumb.exists():
        try:
            _render_source_thumbnail(Path(row["source"]), thumb)
        except Exception:  # a source that moved or no longer loads: the card shows no picture
            return None
    return f"thumbs/{thumb.name}"


def _render_source_thumbnail(source: Path, thumb: Path) -> None:
    import tempfile

    thumb.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=thumb.parent) as folder:
        _first_view(source, Path(folder))
        os.replace(Path(folder) / "000_normal.png", thumb)


def _curation_card(rows: list[dict], report: Path) -> str:
    """Per rule: how many assets it flagged and dropped, with examples (the dataset card)."""
    counts = {label: {"flag": 0, "drop": 0} for label in RULE_LABELS}
    decided = {"keep": 0, "flag": 0, "drop": 0}
    for row in rows:
        decision = row.get("curation")
        if decision not in decided:
            continue
        decided[decision] += 1
        for label in RULE_LABELS:
            if label in (row.get("curation_reason") or "") and decision != "keep":
                counts[label][decision] += 1
    if not sum(decided.values()):
        return ""
    examples = _rule_examples(rows, report)
    body = "".join(
        f"<tr><td>{label}</td><td>{c['flag']}</td><td>{c['drop']}</td>"
        f'<td class="examples">{_example_tags(examples[label])}</td></tr>'
        for label, c in counts.items())
    return (f'<section id="curation"><h2>Curation</h2><p>{decided["keep"]} kept, '
            f'{decided["flag"]} flagged, {decided["drop"]} dropped</p><table><tr><th>rule</th>'
            f"<th>flagged</th><th>dropped</th><th>examples</th></tr>{body}</table></section>")


def _disk_card(disk: dict) -> str:
    """Bytes per file kind of the finished assets and the dataset-level entries (issue 31)."""
    cell = "<td>{}</td>".format
    kinds = "".join(
        f"<tr><td>{html.escape(kind)}</td>{cell(assets)}{cell(human_bytes(median))}"
        f"{cell(human_bytes(mean))}{cell(human_bytes(total))}</tr>"
        for kind, assets, median, mean, total in disk_rows(disk))
    dataset = "".join(
        f"<tr><td>{html.escape(row['name'])}</td>{cell(row['files'])}"
        f"{cell(human_bytes(row['bytes']) + html.escape(dataset_note(row)))}</tr>"
        for row in disk["dataset"])
    unfinished = (f"; {disk['unfinished']} unfinished folder(s) without meta.json left out"
                  if disk["unfinished"] else "")
    return (f'<section id="disk"><h2>Disk</h2><p>{disk["assets"]} finished assets (folders '
            f"with meta.json){unfinished}; {UNITS_NOTE}</p><table id=\"disk-kinds\"><tr>"
            "<th>kind</th><th>assets</th><th>median per asset</th><th>mean per asset</th>"
            f"<th>total</th></tr>{kinds}</table><h3>Dataset level</h3>"
            '<table id="disk-dataset"><tr><th>entry</th><th>files</th><th>bytes</th></tr>'
            f"{dataset}</table><p>{html.escape(total_line(disk))}</p></section>")


def _example_tags(examples: list[tuple[dict, str]]) -> str:
    return "".join(
        f'<img src="{html.escape(image)}" width="64" height="64" loading="lazy" '
        f'alt="{html.escape(row["asset_id"][:12])}" '
        f'title="{html.escape(row.get("curation_reason") or "")}">'
        for row, image in examples)


def _page(title: str, body: str, scripts: tuple[str, ...] = (), prefix: str = "") -> str:
    tags = "".join(f'<script src="{prefix}{s}"></script>' for s in scripts)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>'
            f'{html.escape(title)}</title><link rel="icon" href="data:,">'
            f'<link rel="stylesheet" href="{prefix}report.css">{tags}</head><body><header>'
            f"<h1>{html.escape(title)}</h1></header><main>{body}</main></body></html>")


def _failure_page(row: dict) -> str:
    fields = "".join(f"<tr><th>{k}</th><td>{html.escape(str(row.get(k)))}</td></tr>"
                     for k in ("asset_id", "source", "stage", "error_class", "error_message",
                               "seconds"))
    return _page(f"failed: {row['asset_id'][:16]}", f'<table>{fields}</table>'
                 '<p><a href="../index.html">back to the report</a></p>', prefix="../")


def build_report(output: str | os.PathLike[str], *, ledger_path=None, page_size: int = 60,
                 render_missing: bool = False) -> Path:
    """Write ``OUT/report/`` for a ``meshprep run`` output folder; returns ``index.html``.

    Parameters
    ----------
    output : path-like
        The run's output folder (local).
    ledger_path : path-like, optional
        Default ``OUT/ledger.sqlite``.
    page_size : int
        Assets per gallery page.
    render_missing : bool
        Render a watertight thumbnail for ok assets the run did not render.
    """
    root = Path(output).resolve()
    report = root / "report"
    with Ledger(Path(ledger_path) if ledger_path else root / "ledger.sqlite") as ledger:
        summary = summarize(ledger)
        wall = ledger.db.execute("SELECT SUM(finished - started) FROM runs").fetchone()[0]
        rows = list(_rows(ledger, root, render_missing))
    columns = sorted({k for r in rows for k in r if k not in ("error_message", "source")}
                     | {"curation"})
    index = {"columns": columns, "rows": [[r.get(c) for c in columns] for r in rows],
             "page_size": page_size, "card_columns": list(CARD_COLUMNS),
             "sortable": [c for c in SORTABLE if c in columns]}
    _write_text(report / "data" / "index.js",
                "window.MESHPREP_INDEX = " + json.dumps(index, separators=(",", ":")) + ";\n")
    static = resources.files("meshprep.report") / "static"
    for name in ("report.js", "report.css"):
        with resources.as_file(static / name) as source:
            shutil.copyfile(source, report / name)
    shutil.rmtree(report / "failed", ignore_errors=True)
    shutil.rmtree(report / "assets", ignore_errors=True)
    for row in rows:
        if row["status"] == "failed":
            _write_text(report / "failed" / f"{row['asset_id']}.html", _failure_page(row))
        elif row.get("asset_page"):
            _write_text(report / "assets" / f"{row['asset_id']}.html", _asset_page(row, root))
    body = (_overview(summary, rows, wall) + _curation_card(rows, report)
            + _disk_card(measure_disk(root)) + _GALLERY)
    built = time.strftime("%Y-%m-%d %H:%M")
    _write_text(report / "index.html",
                _page(f"meshprep report: {root.name} ({built})", body,
                      ("data/index.js", "report.js")))
    return report / "index.html"
