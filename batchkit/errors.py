"""Exceptions for failures of batchkit's own work (I/O, usage, network, remote jobs).

Bad *data* is never an exception: it becomes a `Finding`. The tree::

    BatchkitError               root; the CLI turns any of these into one line and exit code 2
    ├── UsageError              a bad option or argument combination
    ├── InputError              a file that cannot be read or parsed as the format asked for
    ├── ValidationFailed        a batch that must be valid is not (carries the Report; exit 1)
    ├── RemoteError             the provider answered with an error, or could not be reached
    ├── JobFailed               a remote batch ended failed, expired or cancelled (exit 1)
    └── MergeRefused            a merge that would put wrong or no answers on the rows: nothing
        │                       merged (carries the merge report; exit 1)
        └── StaleResults        results that answer other requests than those merged
"""

from __future__ import annotations


class BatchkitError(Exception):
    """Root of batchkit's own failures; `exit_code` is the CLI's exit status for it. `message` is what it
    says, a `words.Text` when it names an option (the CLI then names the flag)."""

    exit_code = 2

    @property
    def message(self) -> str:
        return self.args[0] if self.args and isinstance(self.args[0], str) else str(self)


class UsageError(BatchkitError):
    """A bad argument or combination of arguments."""


class InputError(BatchkitError):
    """A file that cannot be read, or not as the format asked for."""


class ValidationFailed(BatchkitError):
    """A batch that must be valid is not; `report` holds the findings."""

    exit_code = 1

    def __init__(self, message: str, report=None):
        super().__init__(message)
        self.report = report


class RemoteError(BatchkitError):
    """`status` is the HTTP status the server answered, or None when no answer arrived (then the request
    may or may not have taken effect, unless `sent` is False: no connection was made, so it did not)."""

    def __init__(self, message: str, status: int | None = None, sent: bool = True):
        super().__init__(message)
        self.status = status
        self.sent = sent


class JobFailed(BatchkitError):
    """A remote batch ended failed, expired or cancelled."""

    exit_code = 1


class MergeRefused(BatchkitError):
    """A merge that would put wrong answers on rows, or none on any (no source row found its request):
    nothing is merged. `report` is the merge's report."""

    exit_code = 1

    def __init__(self, message: str, report=None):
        super().__init__(message)
        self.report = report


class StaleResults(MergeRefused):
    """Results produced for other requests than the ones they would be joined to (the batch file changed
    after it was submitted, or the results are another batch's): nothing is merged unless allowed. The
    report's `stale` lists them."""
