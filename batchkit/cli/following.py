"""Following batches to their end (`watch`, `submit --wait`): the polling, how each batch ended, and the
exit status that means."""

from __future__ import annotations

from ..errors import JobFailed
from .common import say
from .remote_display import finished_line, print_errors


def follow(refs, session, interval, display):
    """The batches `refs` name, once each has ended; Ctrl-C stops following (never the batches)."""
    try:
        return session.watch(refs, interval=interval, progress=display)
    except KeyboardInterrupt:
        display.close()
        say(
            f"\nstopped watching; the batches keep running. Resume with: batchkit watch {' '.join(refs)}",
            err=True,
        )
        raise SystemExit(130) from None
    finally:
        display.close()


def show_outcomes(batches) -> None:
    """Each batch's end, with the provider's errors for those that did not complete."""
    for batch in batches:
        say(finished_line(batch))
        if batch.status != "completed":
            print_errors(batch)


def fail_unless_completed(batches, allow_failures: bool = True) -> None:
    """Exit 1 when a batch did not complete and, unless `allow_failures`, when requests of a completed one
    failed (as `run` does: `submit --wait`; `watch` downloads nothing and judges batches only)."""
    ended = [b for b in batches if b is not None]
    unfinished = [b for b in ended if b.status != "completed"]
    if unfinished:
        names = ", ".join(f"{b.id} {b.status}" for b in unfinished)
        raise JobFailed(f"{len(unfinished)} batch(es) did not complete: {names}")
    failed = sum(max(b.failed, 0) for b in ended)  # (a count an API sends may be anything)
    if failed and not allow_failures:
        raise JobFailed(
            f"{failed:,} of {sum(b.total for b in ended):,} request(s) failed (their lines in the downloaded results say why): "
            "`batchkit retry` writes them as a new batch, --until-done sends again what failed for a reason "
            "that passes; --allow-failures exits 0"
        )
