"""Where batchkit keeps its own state (ledger, local server data): $BATCHKIT_HOME or the user data folder."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    override = os.environ.get("BATCHKIT_HOME")
    if override:
        path = Path(override).expanduser()
    else:
        import platformdirs

        path = Path(platformdirs.user_data_dir("batchkit", appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path
