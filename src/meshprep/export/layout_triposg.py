"""``triposg``: the surface files VAST-AI-Research/TripoSG's VAE reads.

TripoSG releases no training code and no dataset class: the only code that reads a sample file
is ``load_surface`` in ``VAST-AI-Research/TripoSG:scripts/inference_vae.py`` (encoding a shape
with the released VAE, e.g. to make DiT latents or to fine-tune the VAE on our data). We match
it: it loads a ``.npy`` holding a pickled dict (``np.load(path, allow_pickle=True).tolist()``),
reads ``surface_points`` ``(N, 3)`` and ``surface_normals`` ``(N, 3)``, draws ``num_pc = 204800``
rows without replacement and concatenates them to ``(204800, 6)`` float tensors. Its extraction
box is ``[-1.005, 1.005]^3``: coordinates in [-1, 1], as ours. No labels are read, so none are
written; the sign that matters is the normals' (outward, as ours).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import trimesh

from meshprep.sample.step import TrainingSamples

from .layouts import Key, Layout, check_counts, plain_id, register

LOADER = "VAST-AI-Research/TripoSG:scripts/inference_vae.py"
#: ``load_surface(..., num_pc=204800)``: rows drawn without replacement
NUM_PC = 204800


def make_layout(name: str = "triposg", *, num_pc: int = NUM_PC) -> Layout:
    """The ``triposg`` layout for a given ``num_pc`` (the registered one uses 204800).

    Parameters
    ----------
    name : str
        Registry name.
    num_pc : int
        Surface rows the loader draws without replacement (at least this many are stored).

    Returns
    -------
    Layout
    """

    def write(samples: TrainingSamples, watertight: trimesh.Trimesh | None, folder: Path,
              asset_id: str) -> list[Path]:
        """Write ``<folder>/<asset_id>.npy``: a pickled dict of the surface samples."""
        from meshprep.io import atomic_write

        uid = plain_id(asset_id)
        check_counts(layout, samples)
        data = {"surface_points": np.asarray(samples.surface_points, np.float32),
                "surface_normals": np.asarray(samples.surface_normals, np.float32)}
        path = Path(folder) / f"{uid}.npy"
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path) as tmp, open(tmp, "wb") as stream:
            np.save(stream, data, allow_pickle=True)
        return [path]

    def read(folder: Path, asset_id: str) -> dict[str, np.ndarray]:
        """The arrays as TripoSG's ``load_surface`` sees them (before its random draw).

        ``surface_points``, ``surface_normals`` ``(N, 3)`` and ``surface`` ``(N, 6)``, their
        concatenation (what it feeds the encoder), float32.
        """
        path = Path(folder) / f"{plain_id(asset_id)}.npy"
        data = np.load(path, allow_pickle=True).tolist()
        points = np.asarray(data["surface_points"], np.float32)
        normals = np.asarray(data["surface_normals"], np.float32)
        return {"surface_points": points, "surface_normals": normals,
                "surface": np.concatenate([points, normals], axis=-1)}

    layout = Layout(
        name=name, trainer="TripoSG (VAE encoder input)", loader=LOADER,
        keys=(Key("<id>.npy", "surface_points", "(N, 3)", "float32",
                  "uniform surface samples (a pickled dict in a .npy)"),
              Key("<id>.npy", "surface_normals", "(N, 3)", "float32", "their unit normals")),
        sign="no labels (outward normals)", coords="[-1, 1] (as ours)",
        needs={"surface": num_pc},
        notes=("TripoSG releases no training data loader (nor preprocessing): the keys, file "
               "type and count are those of scripts/inference_vae.py's load_surface; the SDF "
               "supervision its VAE was trained with has no released format, so none is "
               "written (unverified: use the meshprep layout for it)"),
        write=write, read=read)
    return layout


register(make_layout())
