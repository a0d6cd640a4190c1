"""`batchkit map`: a table's rows to answers in one command (build → validate → estimate → submit --wait →
merge onto the table), to one model or to several targets at once."""

from __future__ import annotations

import threading
from pathlib import Path

import click

from ..errors import JobFailed
from .common import on_empty_option, say
from .flags import cli_words
from .remote_display import Display
from .remote_options import connection_options


@click.command(name="map")
@click.argument("table", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="The table with the answers (CSV, TSV, XLSX, JSONL or Parquet, by extension).")  # fmt: skip
@click.option("--sheet", help="Excel sheet name or 0-based index (default: the first).")
@click.option("--encoding", help="Text encoding of a CSV/TSV/JSON table (default UTF-8).")
@click.option("--model", help="The model for every row (or name targets with --target).")
@click.option("--target", "targets", multiple=True, metavar="PROVIDER:MODEL",
              help="Send the rows to this provider's model too (repeatable): one set of answer columns each, "
              "in the provider's line format, submitted natively; --provider/--base-url/--api-key-env "
              "apply to every target.")  # fmt: skip
@connection_options
@click.option(
    "--system", metavar="TEMPLATE", help="System message; {column} inserts a cell; @FILE reads a file."
)
@click.option("--user", required=True, metavar="TEMPLATE",
              help="User message; {column} inserts a cell, {{ }} are braces; \\n, \\t; @FILE.")  # fmt: skip
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE",
              help="A body field for every request (repeatable); VALUE is JSON or text.")  # fmt: skip
@click.option("--max-tokens", type=click.IntRange(min=1), metavar="N", help="The answers' token limit.")
@on_empty_option
@click.option("--response-schema", type=click.Path(exists=True, dir_okay=False), metavar="FILE.json",
              help="A JSON Schema each answer must follow: typed answer.FIELD columns.")  # fmt: skip
@click.option("--schema-name", help="Name of the response schema (default: from the file name).")
@click.option("--long", "long_", is_flag=True, help="One row per input row and target (a `target` column).")
@click.option("--max-cost", type=click.FloatRange(min=0), metavar="AMOUNT",
              help="Refuse, before uploading, when a target's estimated cost bound exceeds AMOUNT.")  # fmt: skip
@click.option("--prices", type=click.Path(exists=True, dir_okay=False), metavar="FILE",
              help="A JSON prices file whose entries replace or add to the shipped ones.")  # fmt: skip
@click.option("--max-enqueued-tokens", type=click.IntRange(min=1), metavar="N",
              help="Keep the prompt tokens in flight per model at most N (a queue).")  # fmt: skip
@click.option("--max-batches", type=click.IntRange(min=1), metavar="K", help="At most K batches in flight.")
@click.option("--completion-window", default="24h", show_default=True, help="How long the provider may take.")
@click.option("--interval", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
              help="The longest pause between status checks, in seconds.")  # fmt: skip
@click.option("--allow-failures", is_flag=True, help="Exit 0 even when some rows got no answer.")
@click.option("-q", "--quiet", is_flag=True, help="No progress, only the summary.")
def map_table(
    table, output, sheet, encoding, model, targets, provider, base_url, api_key_env, system, user, params,
    max_tokens, on_empty, response_schema, schema_name, long_, max_cost, prices, max_enqueued_tokens, max_batches,
    completion_window, interval, allow_failures, quiet,
):  # fmt: skip
    """Answer every row of TABLE and write the table with the answers to OUTPUT: the requests are built,
    validated, estimated, submitted (under the caps), waited for, downloaded and merged, each step as its
    own command does it. Run it again after an interruption: the ledger finds the same batches.

    With --target (repeatable) the rows go to every target at once; the output has answer, status, error,
    usage and cost columns per target (LABEL.answer, …). A target that fails leaves the others complete;
    the command then exits 1 naming it.

    Exit status: 0 when every row has its answer; 1 when a target failed or some rows got none (the table
    is written all the same; 0 then with --allow-failures, but never when a target gave none at all);
    2 for usage and file errors."""
    from ..build import load_schema_file, parse_params, template_argument
    from ..build import schema_name as name_of
    from ..mapping import MapResult, fan_out, steps_of, targets_of
    from ..tables import read_table

    rows = read_table(table, sheet=sheet, encoding=encoding)
    schema = load_schema_file(response_schema) if response_schema else None
    chosen = targets_of([*targets] or None, model, provider, base_url, api_key_env)
    steps = steps_of(
        template_argument(user, "--user"), template_argument(system, "--system"), parse_params(params),
        schema, schema_name or (name_of(Path(response_schema).stem) if response_schema else None),
        max_tokens=max_tokens, max_cost=max_cost, prices=prices, max_enqueued_tokens=max_enqueued_tokens,
        max_batches=max_batches, interval=interval, completion_window=completion_window,
        on_empty=on_empty or "error",
    )  # fmt: skip
    display = Display(quiet)
    lock = threading.Lock()

    def show(event) -> None:  # the targets' threads report at once: one at a time on the terminal
        with lock:
            display(event)

    try:
        result: MapResult = fan_out(rows, chosen, steps, show)
    finally:
        display.close()
    _finish(result, output, long_, single=not targets, allow_failures=allow_failures)


def _finish(result, output, long_: bool, single: bool, allow_failures: bool) -> None:
    from ..results import OK, write_merged

    if single and result.failed:
        raise result.results[0].error
    frame = result.long() if long_ else result.wide() if not single else _single(result)
    written = write_merged(frame, output)
    for target in result.results:
        say(_target_line(target, len(result.table)))
    say(written.to_text())
    if result.failed:
        named = "; ".join(
            f"{r.target.label}: {cli_words(r.error.message)}" for r in result.results if r.failed
        )
        raise JobFailed(f"{len(result.failed)} of {len(result.results)} target(s) gave no answers: {named}")
    short = [(t, t.requests - t.merged.report.counts[OK]) for t in result.results]
    if any(t.merged.report.counts[OK] == 0 for t in result.results) or (
        not allow_failures and any(n for _t, n in short)
    ):
        named = "; ".join(f"{t.target.label}: {n:,} of {t.requests:,}" for t, n in short if n)
        raise JobFailed(
            f"rows without an answer ({named}): their status and error columns say why "
            "(--allow-failures exits 0 when some have one)"
        )


def _single(result):
    from ..mapping.shape import with_answers

    return with_answers(result.table, result.results[0])


def _target_line(target, rows: int) -> str:
    if target.failed:
        return f"{target.target.label}: failed: {cli_words(target.error.message)}"
    counts = ", ".join(f"{status} {n:,}" for status, n in sorted(target.merged.report.counts.items()))
    skipped = f", {rows - target.requests:,} row(s) skipped (an empty cell)" if target.requests < rows else ""
    batches = ", ".join(batch.id for batch in target.batches) or "none (the answer cache answered them)"
    report = target.merged.report
    extra = "".join(
        f"; {len(found):,} {what} (a result the merge set aside)"
        for found, what in ((report.orphans, "orphan(s)"), (report.duplicates, "duplicate(s)"))
        if found
    )
    return f"{target.target.label}: {report.requests:,} answers ({counts}){skipped}{extra}; batches {batches}"
