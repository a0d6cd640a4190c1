"""`batchkit run`: a batch file's requests sent straight to an OpenAI-compatible server, written as the
output and error files a Batch API would (`batch`), rounds of it until every request has its answer
(`rounds`), and `batchkit.run` for Python users (`api`)."""

from .api import run, tqdm_run_progress
from .batch import LOCAL, RunResult, cause, default_errors_path, part_path, run_batch
from .rounds import RunRounds, run_until_done

__all__ = [
    "LOCAL",
    "RunResult",
    "RunRounds",
    "cause",
    "default_errors_path",
    "part_path",
    "run",
    "run_batch",
    "run_until_done",
    "tqdm_run_progress",
]
