"""The hosts a fetch talks to; every one can be replaced (a mirror, a proxy, a test server)."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

from meshprep.errors import MeshprepError

HUGGINGFACE = "https://huggingface.co"
GITHUB = "https://github.com"
THINGIVERSE = "https://www.thingiverse.com"
OBJAVERSE_REPO = "datasets/allenai/objaverse/resolve/main"


@dataclass(frozen=True)
class Endpoints:
    """Base URLs of the sources.

    Attributes
    ----------
    huggingface : str
        Objaverse 1.0 files are ``{huggingface}/datasets/allenai/objaverse/resolve/main/...``
        (default from ``HF_ENDPOINT``, the Hugging Face convention, else huggingface.co).
    github : str
        Repository archives are ``{github}/{org}/{repo}/archive/{commit}.zip``; Git LFS
        objects are asked for at ``{github}/{org}/{repo}.git/info/lfs/objects/batch``.
    thingiverse : str
        Objaverse-XL Thingiverse files are ``{thingiverse}/download:{fileId}``.
    """

    huggingface: str = HUGGINGFACE
    github: str = GITHUB
    thingiverse: str = THINGIVERSE

    @classmethod
    def from_env(cls, overrides: dict[str, str] | None = None) -> Endpoints:
        """Defaults, then ``HF_ENDPOINT``, then ``overrides`` (``{"github": URL}``...)."""
        endpoints = cls(huggingface=os.environ.get("HF_ENDPOINT", HUGGINGFACE))
        for name, url in (overrides or {}).items():
            if name not in ("huggingface", "github", "thingiverse"):
                raise MeshprepError(f"unknown endpoint {name!r}: use huggingface, github or "
                                    "thingiverse")
            endpoints = replace(endpoints, **{name: url})
        return endpoints

    def objaverse(self, path: str) -> str:
        """URL of a file of the Objaverse 1.0 dataset repository."""
        return f"{self.huggingface.rstrip('/')}/{OBJAVERSE_REPO}/{path.lstrip('/')}"

    def thingiverse_file(self, file_id: str) -> str:
        """URL of a Thingiverse file by its id (what Objaverse-XL's identifiers carry)."""
        return f"{self.thingiverse.rstrip('/')}/download:{file_id}"

    def github_archive(self, org: str, repo: str, commit: str) -> str:
        """URL of a repository's zip archive at a commit."""
        return f"{self.github.rstrip('/')}/{org}/{repo}/archive/{commit}.zip"

    def github_lfs_batch(self, org: str, repo: str) -> str:
        """URL of a repository's Git LFS batch API (``{github}/{org}/{repo}.git/info/lfs``)."""
        return f"{self.github.rstrip('/')}/{org}/{repo}.git/info/lfs/objects/batch"


def parse_endpoint(text: str) -> tuple[str, str]:
    """``"github=http://127.0.0.1:8080"`` -> ``("github", "http://127.0.0.1:8080")``."""
    name, sep, url = text.partition("=")
    if not sep or not url:
        raise MeshprepError(f"--endpoint takes NAME=URL, got {text!r}")
    return name.strip(), url.strip()
