"""The report, built from a real run and opened in a real headless Chromium."""

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from meshprep.pipeline import LocalExecutor, run_dataset
from meshprep.report import build_report

from ..pipeline.conftest import fast_config, write_models

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("report")
    write_models(tmp / "in", ["a.obj", "b.ply", "c.stl", "d.glb", "e.off"])
    (tmp / "in" / "broken.glb").write_bytes(b"glTF\x02\x00\x00\x00\xff\xff")
    (tmp / "in" / "empty.stl").write_bytes(b"")
    config = fast_config(["load", "normalize", "curate", "watertight", "sample", "render",
                          "write"])
    run_dataset(tmp / "in", tmp / "out", config, executor=LocalExecutor(2), progress=False)
    build_report(tmp / "out", page_size=2)
    return tmp / "out"


def test_report_files(dataset):
    report = dataset / "report"
    text = (report / "index.html").read_text()
    assert "5 ok" in text and "2 failed" in text and "<svg" in text
    assert "EmptyFileError" in text and "CorruptFileError" in text
    assert "failed: 2 for the asset&#x27;s own reason, 0 for the infrastructure" in text
    assert 'id="curation"' in text and "5 kept" in text
    failed = sorted(p.name for p in (report / "failed").iterdir())
    assert len(failed) == 2 and "load" in (report / "failed" / failed[0]).read_text()
    index = (report / "data" / "index.js").read_text()
    assert index.startswith("window.MESHPREP_INDEX = ")
    thumbs = list(dataset.glob("objects/*/*/renders/*/000_normal.png"))
    assert len(thumbs) == 10  # input and watertight of the 5 ok assets
    alpha = np.asarray(Image.open(thumbs[0]))[..., 3]
    assert 0 < (alpha > 0).mean() < 1  # a real, non-blank picture
    # the salient-edge samples drawn in red over the shape (the boxes' edges are salient)
    overlays = list(dataset.glob("objects/*/*/renders/salient.png"))
    assert len(overlays) == 5
    pixels = np.asarray(Image.open(overlays[0]))
    red = (pixels[..., 0] > 200) & (pixels[..., 1] < 60) & (pixels[..., 3] == 255)
    assert red.sum() > 20 and (pixels[..., 3] > 0).sum() > red.sum()


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install "
                                             "chromium)")
def test_report_in_chromium(dataset):
    playwright = pytest.importorskip("playwright.sync_api")
    errors: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto((dataset / "report" / "index.html").as_uri())
        page.wait_for_selector("body[data-ready='1']")
        assert page.locator("#page").inner_text() == "page 1 of 4 (7 assets)"
        assert page.locator(".card").count() == 2
        # thumbnails are real images that decoded
        page.wait_for_function("[...document.images].every(i => i.complete)")
        sizes = page.eval_on_selector_all(".card img", "els => els.map(e => e.naturalWidth)")
        assert sizes and all(s == 256 for s in sizes)
        # paging
        page.click("#next")
        assert page.locator("#page").inner_text() == "page 2 of 4 (7 assets)"
        # filtering
        page.select_option("#filter-status", "failed")
        assert page.locator("#page").inner_text() == "page 1 of 1 (2 assets)"
        statuses = page.eval_on_selector_all(".card", "els => els.map(e => e.dataset.status)")
        assert statuses == ["failed", "failed"]
        page.select_option("#filter-status", "")
        page.select_option("#filter-curation", "keep")
        assert page.locator("#page").inner_text() == "page 1 of 3 (5 assets)"
        page.select_option("#filter-curation", "")
        page.select_option("#filter-status", "failed")
        # a failure page opens
        page.click(".card a.id")
        assert "stage" in page.content() and "load" in page.content()
        browser.close()
    assert errors == []


@pytest.fixture(scope="module")
def with_passes(dataset, tmp_path_factory) -> tuple[Path, str]:
    """A copy of the run whose first ok asset has material passes in its store folder (the
    ``hunyuan3d-paint`` layout's ``render_tex``), and that asset's id."""
    from meshprep.io import load
    from meshprep.render import render_views

    out = tmp_path_factory.mktemp("passes") / "out"
    shutil.copytree(dataset, out)
    folder = sorted(p for p in out.glob("objects/*/*") if (p / "watertight.npz").exists())[0]
    render_views(load(folder / "watertight.npz"), folder / "hunyuan3d-paint" / "render_tex",
                 "ortho6", size=64, passes=("albedo", "mr", "normal", "position", "mask"))
    build_report(out, page_size=2)
    return out, folder.name


def test_asset_page_shows_passes(with_passes):
    out, asset_id = with_passes
    pages = list((out / "report" / "assets").iterdir())
    assert [p.name for p in pages] == [f"{asset_id}.html"]  # only the asset with passes
    text = pages[0].read_text()
    names = [part.split("</figcaption>")[0] for part in text.split("<figcaption>")[1:]]
    assert names == ["albedo", "mr", "normal", "position", "mask"]
    assert "render_tex/000_albedo.png" in text and "render_tex/001_" not in text
    for src in (part.split('"')[0] for part in text.split('<img src="')[1:]):
        assert (pages[0].parent / src).resolve().is_file(), src
    index = (out / "report" / "data" / "index.js").read_text()
    assert '"passes_page"' in index


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install "
                                             "chromium)")
def test_asset_page_in_chromium(with_passes):
    playwright = pytest.importorskip("playwright.sync_api")
    out, asset_id = with_passes
    errors: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto((out / "report" / "assets" / f"{asset_id}.html").as_uri())
        page.wait_for_function("[...document.images].every(i => i.complete)")
        sizes = page.eval_on_selector_all(".passes img", "els => els.map(e => e.naturalWidth)")
        assert sizes == [64] * 5  # every pass decoded (16-bit position included)
        tops = page.eval_on_selector_all(".passes figure",
                                         "els => els.map(e => e.getBoundingClientRect().top)")
        assert len(set(tops)) == 1  # side by side, in one row
        browser.close()
    assert errors == []
