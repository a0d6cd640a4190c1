"""`batchkit run`: execute a batch file against any OpenAI-compatible server."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..errors import ValidationFailed
from .answer_options import cache_options, chosen_cache, chosen_rounds, rounds_options
from .common import Bars, chosen_file, provider_option, say, subset_of, subset_options
from .flags import cli_words


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--base-url",
    required=True,
    envvar="BATCHKIT_BASE_URL",
    show_envvar=True,
    metavar="URL",
    help="OpenAI-compatible base URL, e.g. http://localhost:8000/v1.",
)
@click.option(
    "--api-key-env", metavar="VAR", help="Environment variable holding the API key (none is sent without it)."
)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Output file (successful requests).",
)
@click.option(
    "--errors",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Error file (failed requests). [default: OUTPUT with .errors before the extension]",
)
@click.option(
    "--concurrency",
    "-c",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Requests in flight at most.",
)
@click.option(
    "--max-rps",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    metavar="R",
    help="Start at most R requests per second.",
)
@click.option(
    "--max-attempts",
    type=click.IntRange(min=1),
    default=6,
    show_default=True,
    help="Tries per request (429, 5xx and connection failures are tried again, with backoff).",
)
@provider_option(
    help="Whose rules the file is checked by before anything is sent (vllm: its score, rerank and audio urls).",
    default_help="local, what batchkit serve executes",
)
@click.option("--allow-failures", is_flag=True, help="Exit 0 even when some requests failed.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary.")
@cache_options
@rounds_options
@subset_options
def run(
    file, base_url, api_key_env, output, errors, concurrency, max_rps, max_attempts, provider, allow_failures,
    quiet, cache_path, no_cache, until_done, max_rounds, limit, sample, seed,
):  # fmt: skip
    """Execute batch FILE against an OpenAI-compatible server; write OUTPUT and ERRORS as a Batch API would.

    The file is validated first (an invalid one is refused with the report). Run the same command again
    after an interruption or after failures: only the custom_ids not yet in OUTPUT are sent (failed ones
    too), and ERRORS is replaced by what failed this time. While running (or when interrupted) the results
    are in OUTPUT.part and ERRORS.part; they become OUTPUT and ERRORS when done.

    Requests the answer cache has a good answer for are not sent (their answers go into OUTPUT, marked
    as cached), and good answers are kept there. --until-done runs again, round after round, what failed
    for a reason that passes, what has no result and answers that do not follow their response schema.

    Exit status: 0 every request succeeded (with --until-done: has its answer), 1 some failed (0 with
    --allow-failures), 2 usage or I/O error.
    """
    from ..keys import key_from_env
    from ..runner import LOCAL

    file = chosen_file(file, subset_of(limit, sample, seed), quiet)
    rounds = chosen_rounds(until_done, max_rounds)
    options = dict(base_url=base_url, output=output, errors=errors, api_key=key_from_env(api_key_env),
                   concurrency=concurrency, max_rps=max_rps, max_attempts=max_attempts,
                   provider=provider or LOCAL, cache=chosen_cache(cache_path, no_cache))  # fmt: skip
    found = _run(file, rounds, options, quiet)
    if rounds:
        _report_rounds(found, rounds, quiet)
        failed = not found.done
    else:
        if not quiet:
            _report(found)
        failed = bool(found.failed)
    if failed and not allow_failures:
        sys.exit(1)


def _run(file, rounds, options, quiet):
    """The run (a RunResult), or its rounds (RunRounds) with --until-done, with a progress bar."""
    from ..runner import run_batch, run_until_done

    bars = Bars(quiet)

    def progress(answered: int, failed: int, total: int) -> None:
        bar = bars.get("run", total=total, initial=answered, unit="req")
        if bar is not None:
            bar.update(answered - bar.n)
            bar.set_postfix(failed=failed, refresh=False)

    def next_round(number, standing) -> None:
        bars.close("run")
        if not quiet:
            again = ", ".join(f"{n:,} {why}" for why, n in standing.again.most_common())
            say(f"round {number}: sending again {again}", err=True)

    try:
        if rounds:
            return run_until_done(file, max_rounds=rounds, on_round=next_round, progress=progress, **options)
        return run_batch(file, progress=progress, **options)
    except ValidationFailed as e:
        from ..report import render

        say(render([e.report], "text", quiet=quiet), err=True)
        raise
    except KeyboardInterrupt:
        say(
            f"\ninterrupted; the answers so far are in {options['output']}.part: run the same command again "
            "to resume",
            err=True,
        )
        sys.exit(130)
    finally:
        bars.close()
        if options["cache"] is not None:
            options["cache"].close()


def _report(result, number: int = 1) -> None:
    where = f"{result.output}" + (f" and {result.errors}" if result.errors else "")
    cached = f"{result.cached:,} answered from the answer cache, " if result.cached else ""
    before = "already answered before" if number == 1 else "not sent again"
    prefix = f"round {number}: " if number > 1 else ""
    say(
        f"{prefix}{_count(result.total, 'request')}: {result.succeeded:,} succeeded, {result.failed:,} failed, "
        f"{cached}{result.skipped:,} {before}; {_count(result.retries, 'retry', 'retries')}; results in {where}",
        err=True,
    )
    if result.failed:
        hint = f"; {cli_words(result.hint)}" if result.hint else ""  # our words only: causes quote the server
        say(result.failures(hint=False) + hint, err=True)


def _report_rounds(found, max_rounds: int, quiet: bool) -> None:
    """Each round's summary, then whether every request has its answer."""
    if quiet:
        return
    for number, result in enumerate(found.rounds, 1):
        _report(result, number)
    standing = found.standing
    if found.done:
        say(f"every request has its answer ({standing.answered:,} of {standing.requests:,})", err=True)
        return
    left = [f"{n:,} {why} (not sent again: it would fail again)" for why, n in standing.final.most_common()]
    left += [f"{n:,} {why} (still, after {len(found.rounds)} of {max_rounds} rounds)"
             for why, n in standing.again.most_common()]  # fmt: skip
    say(
        f"{standing.answered:,} of {standing.requests:,} request(s) have their answer; without one: "
        + "; ".join(left),
        err=True,
    )


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else many or one + 's'}"
