"""DINOv2 / CLIP extractors on tiny randomly initialised models of the real architectures."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from meshprep.cli import main  # noqa: E402
from meshprep.curate import embed  # noqa: E402
from meshprep.curate.score import GEOMETRY_FEATURES, Scorer, make_extractor  # noqa: E402
from meshprep.pipeline import Ledger  # noqa: E402
from meshprep.pipeline.curation import (  # noqa: E402
    dataset_features,
    predict_dataset,
    train_from_ratings,
)

from ..pipeline.conftest import REPO  # noqa: E402

DINO_DIM, CLIP_DIM = 32, 16
METRICS = {"input_faces": 100, "components": 2, "plane_share": 0.25}


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """Folders of a tiny Dinov2Model, CLIPModel and CLIPVisionModelWithProjection."""
    root = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    dino = transformers.Dinov2Model(transformers.Dinov2Config(
        hidden_size=DINO_DIM, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        image_size=56, patch_size=14))
    vision = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
              "intermediate_size": 64, "image_size": 32, "patch_size": 8}
    text = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
            "intermediate_size": 64, "vocab_size": 64, "max_position_embeddings": 16,
            "bos_token_id": 0, "eos_token_id": 1, "pad_token_id": 1}
    clip = transformers.CLIPModel(transformers.CLIPConfig(
        text_config=text, vision_config=vision, projection_dim=CLIP_DIM))
    only = transformers.CLIPVisionModelWithProjection(
        transformers.CLIPVisionConfig(**vision, projection_dim=CLIP_DIM))
    only.vision_model.load_state_dict(clip.vision_model.state_dict())
    only.visual_projection.load_state_dict(clip.visual_projection.state_dict())
    for name, model in (("dinov2", dino), ("clip", clip), ("clip_vision", only)):
        model.save_pretrained(root / name)
    return {"dinov2": str(root / "dinov2"), "clip": str(root / "clip"),
            "clip_vision": str(root / "clip_vision")}


def write_views(folder, seed, count=4, size=40):
    """``count`` RGBA normal views: a disc of random unit normals on a transparent background."""
    views = folder / "renders" / "input"
    views.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    for view in range(count):
        radius = size * (0.25 + 0.2 * rng.random())
        mask = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < radius ** 2
        normals = rng.normal(size=(size, size, 3))
        normals /= np.linalg.norm(normals, axis=2, keepdims=True)
        rgba = np.dstack([(normals + 1) / 2 * 255, mask * 255]).astype(np.uint8)
        Image.fromarray(rgba, "RGBA").save(views / f"{view:03d}_normal.png")
    return folder


@pytest.mark.parametrize(("name", "dim"), [("dinov2", DINO_DIM), ("clip", CLIP_DIM),
                                           ("clip+dinov2", CLIP_DIM + DINO_DIM)])
def test_features_are_finite_sized_and_deterministic(tmp_path, weights, name, dim):
    asset = write_views(tmp_path / "asset", seed=1)
    extract = make_extractor(name, weights)
    first = extract(asset, METRICS)
    assert len(first) == dim + len(GEOMETRY_FEATURES)
    assert all(np.isfinite(v) for v in first.values())
    assert set(GEOMETRY_FEATURES) <= set(first)
    assert first["plane_share"] == 0.25
    assert make_extractor(name, weights)(asset, METRICS) == first


def test_different_views_give_different_features(tmp_path, weights):
    extract = make_extractor("clip+dinov2", weights)
    one = extract(write_views(tmp_path / "a", seed=1), METRICS)
    two = extract(write_views(tmp_path / "b", seed=2), METRICS)
    for prefix in ("clip_", "dinov2_"):
        keys = [k for k in one if k.startswith(prefix)]
        assert not np.allclose([one[k] for k in keys], [two[k] for k in keys])
    none = extract(tmp_path / "no_views", METRICS)
    assert all(v == 0.0 for k, v in none.items() if k.startswith(("clip_", "dinov2_")))


def test_clip_vision_folder_and_get_image_features_agree(tmp_path, weights):
    asset = write_views(tmp_path / "asset", seed=3)
    full = make_extractor("clip", weights)(asset, METRICS)
    vision = make_extractor("clip", {"clip": weights["clip_vision"]})(asset, METRICS)
    assert np.allclose(list(full.values()), list(vision.values()), atol=1e-5)
    model = transformers.CLIPModel.from_pretrained(weights["clip"], local_files_only=True).eval()
    views = [embed.read_view(p) for p in sorted((asset / "renders" / "input").iterdir())]
    with torch.inference_mode():
        out = model.get_image_features(pixel_values=embed.pixel_batch(
            views, 32, embed.CLIP_MEAN, embed.CLIP_STD))
    expected = (out if torch.is_tensor(out) else out.pooler_output).mean(dim=0).numpy()
    got = np.array([full[f"clip_{i:04d}"] for i in range(CLIP_DIM)])
    assert np.allclose(got, expected, atol=1e-5)


def test_views_are_composited_on_white(tmp_path):
    rgba = np.zeros((8, 12, 4), np.uint8)
    rgba[..., :3] = 30
    rgba[2:6, 4:8] = [10, 200, 90, 255]
    Image.fromarray(rgba, "RGBA").save(tmp_path / "v.png")
    view = embed.read_view(tmp_path / "v.png")
    assert view.shape == (12, 12, 3)
    assert np.all(view[0] == 1.0) and np.all(view[4, 0] == 1.0)
    assert np.allclose(view[2 + 2, 4], np.array([10, 200, 90]) / 255)


def _dataset(root, count=8):
    """A run output: ``count`` ok assets with views and metrics in the ledger."""
    with Ledger(root / "ledger.sqlite") as ledger:
        for index in range(count):
            asset_id = f"{index:02d}{'ab' * 6}"
            write_views(root / "objects" / asset_id[:2] / asset_id, seed=10 + index)
            metrics = {"input_faces": 80 + 40 * index, "plane_share": index / count}
            ledger.db.execute(
                "INSERT INTO assets (asset_id, source, uid, status, metrics) VALUES "
                "(?, ?, ?, 'ok', ?)", (asset_id, f"m{index}.obj", f"uid{index}",
                                       json.dumps(metrics)))
        ledger.db.commit()
    ratings = root / "ratings.csv"
    with open(ratings, "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["id", "score"])
        writer.writerows([f"uid{i}", 1 + i % 5] for i in range(count))
    return ratings


def test_train_save_load_predict_round_trip(tmp_path, weights):
    out = tmp_path / "out"
    ratings = _dataset(out)
    paths = {"clip": weights["clip"], "dinov2": weights["dinov2"]}
    scorer = train_from_ratings(ratings, out, extractor="clip+dinov2", model_paths=paths)
    assert scorer.n_train == 8 and len(scorer.features) == CLIP_DIM + DINO_DIM + 13
    scorer.save(tmp_path / "scorer.json")
    loaded = Scorer.load(tmp_path / "scorer.json")
    assert loaded.extractor == "clip+dinov2"
    assert loaded.model_paths == {k: str(Path(v).resolve()) for k, v in paths.items()}
    features, _ = dataset_features(out, loaded.extractor, loaded.model_paths)
    ids = sorted(features)
    rows = [features[i] for i in ids]
    assert np.array_equal(loaded.predict(rows), scorer.predict(rows))
    assert predict_dataset(out, loaded) == 8
    with Ledger(out / "ledger.sqlite") as ledger:
        stored = dict(ledger.db.execute("SELECT asset_id, metrics FROM assets"))
    assert [json.loads(stored[i])["quality_score"] for i in ids] == \
        [round(float(v), 4) for v in scorer.predict(rows)]


def test_cli_train_and_predict_with_an_embedder(tmp_path, weights, capsys):
    out = tmp_path / "out"
    ratings = _dataset(out, count=6)
    model = tmp_path / "scorer.json"
    assert main(["score", "train", str(ratings), "-o", str(model), "--dataset", str(out),
                 "--extractor", "dinov2", "--dinov2", weights["dinov2"],
                 "--clip", weights["clip"]]) == 0
    assert Scorer.load(model).model_paths == {"dinov2": str(Path(weights["dinov2"]).resolve())}
    assert main(["score", "predict", str(out), "--model", str(model)]) == 0
    assert main(["score", "predict", str(out), "--model", str(model),
                 "--dinov2", weights["clip"]]) == 1
    assert "not DINOv2" in capsys.readouterr().err


def test_missing_weights_are_named(tmp_path, weights, capsys):
    with pytest.raises(embed.MissingWeightsError, match=r"model_paths\['dinov2'\]"):
        make_extractor("dinov2", {})
    with pytest.raises(embed.MissingWeightsError, match=r"--clip") as info:
        make_extractor("clip+dinov2", {"dinov2": weights["dinov2"],
                                       "clip": str(tmp_path / "nowhere")})
    assert str(tmp_path / "nowhere") in str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    out = tmp_path / "out"
    ratings = _dataset(out, count=5)
    assert main(["score", "train", str(ratings), "-o", str(tmp_path / "s.json"),
                 "--dataset", str(out), "--extractor", "clip"]) == 1
    assert "needs a local weights folder" in capsys.readouterr().err


def test_missing_packages_say_what_to_install(weights, monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(embed.MissingDependencyError, match=r'meshprep\[embed\]'):
        make_extractor("dinov2", weights)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is there")
def test_cuda_without_a_device_is_refused(weights):
    with pytest.raises(embed.EmbedError, match="no CUDA device"):
        make_extractor("dinov2", weights, device="cuda")


def test_importing_the_scorer_does_not_import_torch():
    code = ("import sys, meshprep.cli, meshprep.curate.score, meshprep.curate.embed, "
            "meshprep.pipeline.curation; "
            "assert 'torch' not in sys.modules and 'transformers' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO,
                   env={**os.environ, "PYTHONPATH": str(REPO / "src")})
