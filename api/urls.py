"""The URLs the API hands out. Clients follow links; they never build paths or see files."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

API_V1 = "/api/v1"


@dataclass(frozen=True)
class Urls:
    """Root-relative URLs under the app's mount point (``root_path``) and ``/api/v1``."""

    base: str = API_V1

    def saree(self, saree_id: str) -> str:
        return f"{self.base}/sarees/{saree_id}"

    def saree_jobs(self, saree_id: str) -> str:
        return f"{self.saree(saree_id)}/jobs"

    def gallery(self, saree_id: str) -> str:
        return f"{self.saree(saree_id)}/gallery"

    def artifacts(self, saree_id: str) -> str:
        return f"{self.saree(saree_id)}/artifacts"

    def artifact(self, saree_id: str, relpath: str) -> str:
        return f"{self.artifacts(saree_id)}/{quote(relpath, safe='/')}"

    def job(self, job_id: str) -> str:
        return f"{self.base}/jobs/{job_id}"
