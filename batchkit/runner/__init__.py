"""`batchkit run`: a batch file's requests sent straight to an OpenAI-compatible server, written as the
output and error files a Batch API would (`batch`), and `batchkit.run` for Python users (`api`)."""

from .api import run, tqdm_run_progress
from .batch import LOCAL, RunResult, cause, default_errors_path, part_path, run_batch

__all__ = [
    "LOCAL",
    "RunResult",
    "cause",
    "default_errors_path",
    "part_path",
    "run",
    "run_batch",
    "tqdm_run_progress",
]
