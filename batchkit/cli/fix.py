"""`batchkit fix`: repair what can be repaired in a batch file."""

from __future__ import annotations

import sys

import click

from ..lines import source_name
from ..report import render
from .common import dialect_option, format_option, json_text, provider_option, say, use_color


@click.command()
@click.argument("file", type=click.Path(allow_dash=True, dir_okay=False))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Where to write the repaired file ('-': standard output).",
)
@click.option("--in-place", is_flag=True, help="Write over FILE itself.")
@click.option(
    "--dedupe-ids",
    is_flag=True,
    help="Rename repeated custom_ids: request-1, request-1~2, … (request-1-2 where the provider's ids take no ~).",
)
@click.option("--drop-duplicates", is_flag=True, help="Drop lines identical to an earlier line.")
@click.option(
    "--strict-schemas",
    is_flag=True,
    help="Give every strict JSON schema additionalProperties: false and a full required list.",
)
@provider_option
@dialect_option
@format_option(help="How to print the findings that remain.")
@click.option("--max-findings", type=click.IntRange(min=0), default=None, help="Print at most N findings.")
@click.option("-q", "--quiet", is_flag=True, help="Do not list the changes; only errors that remain.")
def fix(
    file,
    output,
    in_place,
    dedupe_ids,
    drop_duplicates,
    strict_schemas,
    provider,
    dialect,
    fmt,
    max_findings,
    quiet,
):
    """Repair batch FILE: byte-order mark, CRLF, blank lines, a JSON array instead of lines, and (when
    asked) repeated custom_ids, duplicate lines or strict schemas that strict mode would reject. Each change is listed with its line number; the result
    is validated again. Exit status 1 when problems remain that need a person.
    """
    from ..report import counted
    from ..validate import fix_file

    to_stdout = output == "-"
    result = fix_file(
        file,
        sys.stdout.buffer if to_stdout else output,
        in_place=in_place,
        dedupe_ids=dedupe_ids,
        drop_duplicates=drop_duplicates,
        strict_schemas=strict_schemas,
        provider=provider,
        max_findings=max_findings,
        dialect=dialect,
    )
    if to_stdout:
        sys.stdout.flush()
    name = source_name(file)
    out = sys.stderr if to_stdout else sys.stdout
    report = result.report
    if fmt == "json":
        say(json_text(_summary(result, name, None if to_stdout else str(result.path))), file=out)
        if report is not None and not report.valid:
            click.get_current_context().exit(1)
        return
    if not quiet:
        for change in result.changes:
            where = f"{name}:{change.where()}" if change.line is not None else name
            say(f"{where}: {change.message}", file=out)
        target = "standard output" if to_stdout else str(result.path)
        say(
            f"{counted(len(result.changes), 'change')}; wrote {counted(result.lines_out, 'line')} to {target}",
            file=out,
        )
    if report is not None and (report.findings or not report.valid):
        rendered = render([report], fmt, color=use_color(out), quiet=quiet, group=True)
        if rendered:
            say(rendered, file=out, painted=True)
    if report is not None and not report.valid:
        click.get_current_context().exit(1)


def _summary(result, name: str, target: str | None) -> dict:
    """--format json: one object, the changes, what was written and the report on it."""
    report = result.report
    return {"file": name, "changes": [c.to_dict() for c in result.changes],
            "written": {"path": target, "lines": result.lines_out},
            "report": report.to_dict() if report is not None else None}  # fmt: skip
