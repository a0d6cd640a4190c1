"""`batchkit run`: execute a batch file against any OpenAI-compatible server."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..errors import ValidationFailed
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
@subset_options
def run(
    file, base_url, api_key_env, output, errors, concurrency, max_rps, max_attempts, provider, allow_failures,
    quiet, limit, sample, seed,
):  # fmt: skip
    """Execute batch FILE against an OpenAI-compatible server; write OUTPUT and ERRORS as a Batch API would.

    The file is validated first (an invalid one is refused with the report). Run the same command again
    after an interruption or after failures: only the custom_ids not yet in OUTPUT are sent (failed ones
    too), and ERRORS is replaced by what failed this time. While running (or when interrupted) the results
    are in OUTPUT.part and ERRORS.part; they become OUTPUT and ERRORS when done.

    Exit status: 0 every request succeeded, 1 some failed (0 with --allow-failures), 2 usage or I/O error.
    """
    from ..keys import key_from_env
    from ..runner import LOCAL, run_batch

    file = chosen_file(file, subset_of(limit, sample, seed), quiet)
    api_key = key_from_env(api_key_env)
    bars = Bars(quiet)

    def progress(answered: int, failed: int, total: int) -> None:
        bar = bars.get("run", total=total, initial=answered, unit="req")
        if bar is not None:
            bar.update(answered - bar.n)
            bar.set_postfix(failed=failed, refresh=False)

    try:
        result = run_batch(
            file,
            base_url=base_url,
            output=output,
            errors=errors,
            api_key=api_key,
            concurrency=concurrency,
            max_rps=max_rps,
            max_attempts=max_attempts,
            provider=provider or LOCAL,
            progress=progress,
        )
    except ValidationFailed as e:
        from ..report import render

        say(render([e.report], "text", quiet=quiet), err=True)
        raise
    except KeyboardInterrupt:
        say(
            f"\ninterrupted; the answers so far are in {output}.part: run the same command again to resume",
            err=True,
        )
        sys.exit(130)
    finally:
        bars.close()
    if not quiet:
        _report(result)
    if result.failed and not allow_failures:
        sys.exit(1)


def _report(result) -> None:
    where = f"{result.output}" + (f" and {result.errors}" if result.errors else "")
    say(
        f"{_count(result.total, 'request')}: {result.succeeded:,} succeeded, {result.failed:,} failed, "
        f"{result.skipped:,} already answered before; {_count(result.retries, 'retry', 'retries')}; "
        f"results in {where}",
        err=True,
    )
    if result.failed:
        hint = f"; {cli_words(result.hint)}" if result.hint else ""  # our words only: causes quote the server
        say(result.failures(hint=False) + hint, err=True)


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else many or one + 's'}"
