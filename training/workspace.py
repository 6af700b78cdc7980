"""The work folder beside --out where a run keeps its checkpoint, log and model until the model is
complete, and the rename that puts the finished model in place."""

import os
import shutil
from pathlib import Path


def work_folder(out: str | Path) -> Path:
    """Where a run keeps its checkpoint, log and model until the model is complete: beside --out,
    so the finished directory moves into place with a rename, and a model already at --out stays
    whole until then."""
    out = Path(out).absolute()
    return out.with_name(out.name + ".partial")


def move_into_place(work: Path, out: Path) -> None:
    """Rename the finished `work` folder to `out`, replacing what was there only now."""
    out.parent.mkdir(parents=True, exist_ok=True)
    if not out.exists():
        os.replace(work, out)
        return
    retired = out.with_name(f".{out.name}.replaced-{os.getpid()}")
    os.replace(out, retired)
    os.replace(work, out)
    shutil.rmtree(retired)
