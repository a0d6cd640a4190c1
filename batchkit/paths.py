"""Where batchkit keeps its own state (ledger, local server data): $BATCHKIT_HOME or the user data folder."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import InputError


def home() -> Path:
    override = os.environ.get("BATCHKIT_HOME")
    if override:
        path = Path(override).expanduser()
    else:
        import platformdirs

        path = Path(platformdirs.user_data_dir("batchkit", appauthor=False))
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise unwritable(path, e) from None
    return path


def unwritable(path: Path, error: Exception) -> InputError:
    """One line for a state folder or file batchkit cannot write, with the way out."""
    reason = getattr(error, "strerror", None) or str(error)
    return InputError(
        f"cannot write batchkit's state in {path} ({reason}); make it writable or set BATCHKIT_HOME "
        "to a folder you can write"
    )
