"""Health of the journal: can this process still record what the desk decides."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def journal_writable(root: str | os.PathLike[str]) -> tuple[bool, str | None]:
    """Whether a file can be created in the journal folder, and why not."""
    path = Path(root)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".probe-"):
            pass
    except OSError as err:
        return False, f"journal directory {path} is not writable: {err.strerror}"
    return True, None
