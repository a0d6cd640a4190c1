"""`batchkit convert`."""

from __future__ import annotations

import sys

import click

from ..errors import ValidationFailed
from ..formats import DIALECTS
from ..providers import PROVIDERS
from ..report import render
from .common import Bars, format_option, say, use_color

# --to takes a dialect, or a provider whose line it writes (`--to mistral` = `--to custom-body -p mistral`)
TARGETS = sorted(set(DIALECTS) | {name for name, row in PROVIDERS.items() if row.dialect})


@click.command()
@click.argument("source", type=click.Path(allow_dash=True, dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="The file to write.")
@click.option(
    "--to",
    "to",
    type=click.Choice(TARGETS),
    help="The dialect to write, or a provider (its dialect and limits) [default: the provider's dialect].",
)
@click.option(
    "--provider",
    "-p",
    type=click.Choice(list(PROVIDERS), case_sensitive=False),
    default=None,
    help="Whose limits and id rule the output must meet (default: the dialect's own provider).",
)
@click.option("--model", default=None, help="The model to put on every request.")
@click.option(
    "--max-tokens", type=click.IntRange(min=1), default=None, help="max_tokens where a request has none."
)
@click.option(
    "--endpoint",
    type=click.Choice(["/v1/chat/completions", "/v1/responses"]),
    default=None,
    help="With --to openai: where chat requests go; /v1/responses writes Responses bodies.",
)
@click.option("--drop-unsupported", is_flag=True, help="Leave out what the target cannot express (listed).")
@click.option("--force", is_flag=True, help="Write the output even when it does not validate.")
@format_option
@click.option("-q", "--quiet", is_flag=True, help="Only errors; no warnings or summary.")
def convert(source, output, to, provider, model, max_tokens, endpoint, drop_unsupported, force, fmt, quiet):
    """Convert batch file SOURCE to another provider's line format (--to DIALECT) and write OUTPUT.

    \b
    Dialects: openai {custom_id, method, url, body}, anthropic {custom_id, params}, gemini {key, request},
    vertex {request}, bedrock {recordId, modelInput}, custom-body {custom_id, body}.
    A request the target cannot express is reported and not written, unless --drop-unsupported.
    Exit status: 0 every request converted, 1 some could not be (or the output is invalid), 2 usage or I/O.
    """
    from ..convert import convert_file

    if to not in DIALECTS and to is not None:
        provider, to = provider or to, PROVIDERS[to].dialect
    bars = Bars(quiet)
    try:
        result = convert_file(
            source,
            output,
            to,
            provider=provider,
            model=model,
            max_tokens=max_tokens,
            drop_unsupported=drop_unsupported,
            force=force,
            endpoint=endpoint,
            progress=bars.bytes_read(),
        )
    except ValidationFailed as e:
        bars.close()
        reports = [r for r in (getattr(e, "conversion", None), e.report) if r is not None]
        _echo(render(reports, fmt, color=use_color(sys.stdout), quiet=quiet, group=True))
        raise
    bars.close()
    if result.validation is not None:  # a model the target provider does not serve converts, and fails there
        from ..tokens import advise_models

        advise_models(result.validation, close_only=False)
    shown = [r for r in result.reports if r.findings or fmt != "text"]
    _echo(render(shown, fmt, color=use_color(sys.stdout), quiet=quiet, group=True) if shown else "")
    if not quiet:
        where = ", ".join(str(p) for p in result.paths)
        say(f"converted {result.written:,} request(s) to {where}", err=True)
        if result.skipped:
            say(f"{result.skipped:,} request(s) could not be converted and were not written", err=True)
        if result.dropped:
            say(f"{len(result.dropped):,} field(s) dropped (--drop-unsupported)", err=True)
        if result.id_map is not None:
            say(f"ids changed to fit the provider's rule: map in {result.id_map}", err=True)
    invalid = result.validation is not None and not result.validation.valid  # written under --force
    click.get_current_context().exit(1 if result.skipped or not result.conversion.valid or invalid else 0)


def _echo(text: str) -> None:
    if text:
        say(text, painted=True)  # render's output
