"""batchkit: author, validate, submit and merge JSONL batch files for OpenAI-compatible Batch APIs.

The public API is re-exported here and imported on first use, so `import batchkit` stays light
(validation never imports pandas). A notebook's round trip:

    requests = batchkit.build_requests(df, model="m", user="{question}")   # sized, re-iterable
    report = batchkit.validate_requests(requests, provider="openai")        # a table in a notebook
    jobs = batchkit.submit(requests, base_url=URL)                          # waits; a BatchJob per file
    result = batchkit.merge_results(jobs.paths, jobs.results(), source=df)  # .frame and .report

`merge` returns only the DataFrame (as it always has); `merge_results` returns the MergeResult, whose
report lists orphans, duplicates, missing results and the error digest: use it when you need to know
what did not join. Outcomes are named `<Thing>Result` (BuildResult, WriteResult, FixResult,
SubmitResult, DownloadResult, RunResult, MergeResult, RetryResult); problems in data are `Finding`s
in a `Report`. Errors are `BatchkitError`s; their messages name Python arguments (`force=True`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # editors and type checkers see the real names; at run time __getattr__ imports them
    from .batchfile import WriteResult, split_file, write_batch
    from .build import BuildResult, BuiltRequests, build_file, build_requests
    from .convert import convert_file, convert_request
    from .errors import BatchkitError, InputError, JobFailed, RemoteError, UsageError, ValidationFailed
    from .findings import Finding, Report, Summary
    from .mapping import MapResult, MapTarget, map
    from .providers import PROVIDERS, Provider, get_provider
    from .remote import BatchJob, DownloadResult, Submission, SubmitResult, submit, tqdm_progress
    from .results import MergeReport, MergeResult, RetryResult, merge, merge_results, read_results, retry
    from .runner import RunResult, run, run_batch
    from .tokens import estimate
    from .validate import FixResult, Validator, fix_file, validate_file, validate_request, validate_requests

__version__ = "0.1.0"

_EXPORTS = {
    "validate_file": "validate",
    "validate_request": "validate",
    "Validator": "validate",
    "Finding": "findings",
    "Report": "findings",
    "Summary": "findings",
    "get_provider": "providers",
    "Provider": "providers",
    "PROVIDERS": "providers",
    "build_requests": "build",
    "write_batch": "batchfile",
    "read_results": "results",
    "merge": "results",
    "run_batch": "runner",
    "estimate": "tokens",
    "BatchkitError": "errors",
    "UsageError": "errors",
    "InputError": "errors",
    "ValidationFailed": "errors",
    "RemoteError": "errors",
    "JobFailed": "errors",
    "convert_request": "convert",
    "convert_file": "convert",
    # the Python API's workflow and its result objects: one name per outcome, `<Thing>Result`
    "validate_requests": "validate",
    "fix_file": "validate",
    "FixResult": "validate",
    "BuiltRequests": "build",
    "build_file": "build",
    "split_file": "batchfile",
    "BuildResult": "build",
    "WriteResult": "batchfile",
    "submit": "remote",
    "run": "runner",
    "BatchJob": "remote",
    "Submission": "remote",
    "SubmitResult": "remote",
    "DownloadResult": "remote",
    "RunResult": "runner",
    "merge_results": "results",
    "MergeResult": "results",
    "MergeReport": "results",
    "retry": "results",
    "RetryResult": "results",
    "tqdm_progress": "remote",
    # prompts in, answers out: every step above in one call, to one model or several
    "map": "mapping",
    "MapTarget": "mapping",
    "MapResult": "mapping",
}

# A literal list, so type checkers know what `import batchkit` re-exports (kept equal to _EXPORTS by a test).
__all__ = [
    "BatchJob",
    "BatchkitError",
    "BuildResult",
    "BuiltRequests",
    "DownloadResult",
    "Finding",
    "FixResult",
    "InputError",
    "JobFailed",
    "MapResult",
    "MapTarget",
    "MergeReport",
    "MergeResult",
    "PROVIDERS",
    "Provider",
    "RemoteError",
    "Report",
    "RetryResult",
    "RunResult",
    "Submission",
    "SubmitResult",
    "Summary",
    "UsageError",
    "ValidationFailed",
    "Validator",
    "WriteResult",
    "build_file",
    "build_requests",
    "convert_file",
    "convert_request",
    "estimate",
    "fix_file",
    "get_provider",
    "map",
    "merge",
    "merge_results",
    "read_results",
    "retry",
    "run",
    "run_batch",
    "split_file",
    "submit",
    "tqdm_progress",
    "validate_file",
    "validate_request",
    "validate_requests",
    "write_batch",
]


_SUBMODULES = ("aio",)  # `batchkit.aio.map(...)` after `import batchkit` alone


def __getattr__(name: str) -> object:
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'batchkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
