"""`batchkit build`: a batch file from a table of prompts."""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from ..errors import UsageError, ValidationFailed
from ..report import human_bytes
from . import on_dask
from .common import on_empty_option, provider_option, say, subset_of, subset_options
from .flags import cli_words
from .on_dask import cluster_options, on_cluster
from .writing import echo_files, limit_options, print_report, progress_bar, report_failure, report_options

ENDPOINT_HELP = "Request url (default /v1/chat/completions; /v1/embeddings with --input)."


@click.command()
@click.argument("table", type=click.Path(allow_dash=True))
@click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False), help="The batch file to write."
)
@click.option(
    "--input-format",
    type=click.Choice(["csv", "tsv", "xlsx", "parquet", "json", "jsonl"]),
    help="The table's format (default: by extension; '-' is CSV).",
)
@click.option("--sheet", help="Excel sheet name or 0-based index (default: the first).")
@click.option("--encoding", help="Text encoding of a CSV/TSV/JSON table (default UTF-8), e.g. cp1252.")
@click.option(
    "--delimiter",
    metavar="CHAR",
    help="The CSV field separator (default: the one of , ; tab | its first lines use, said when not ,).",
)
@click.option("--model", help="Model for every request.")
@click.option("--model-column", metavar="COL", help="Column holding each row's model.")
@click.option(
    "--system",
    metavar="TEMPLATE",
    help="System message; {column} inserts a cell; \\n is a newline, \\t a tab (\\\\n: a backslash and n); "
    "@FILE reads a file (as it is).",
)
@click.option(
    "--user",
    metavar="TEMPLATE",
    help="User message; {column} inserts a cell, {{ }} are braces; \\n, \\t as for --system; @FILE.",
)
@click.option(
    "--messages-column", metavar="COL", help="Column holding a JSON list of messages (instead of --user)."
)
@click.option(
    "--input",
    "input_",
    metavar="TEMPLATE",
    help="Text to embed (with --endpoint /v1/embeddings); \\n, \\t as for --system; @FILE.",
)
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="Body field; VALUE is JSON when it parses, else a string. Repeatable.",
)
@click.option(
    "--body-template",
    type=click.Path(exists=True, dir_okay=False),
    help='JSON body with {column} placeholders in any string, and {"$column": "name"} for a cell as a '
    "JSON value (a number stays a number); any endpoint.",
)
@click.option(
    "--max-tokens",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="The body's output limit on every request: max_tokens (max_output_tokens for /v1/responses), "
    "as --param max_tokens=N. Prompt tokens per file are --max-file-tokens.",
)
@click.option("--endpoint", default=None, help=ENDPOINT_HELP)
@click.option(
    "--id-column", metavar="COL", help="Column of unique custom_ids (default: generated from row numbers)."
)
@click.option(
    "--id-prefix", default="row-", show_default=True, help="Prefix of generated ids (row-1, row-2, …)."
)
@on_empty_option
@click.option(
    "--response-schema",
    type=click.Path(exists=True, dir_okay=False),
    help="A JSON Schema file every answer must follow (strict json_schema response format).",
)
@click.option(
    "--response-model",
    metavar="MODULE:CLASS",
    help="A pydantic model whose JSON Schema every answer must follow (needs pydantic installed).",
)
@click.option("--schema-name", help="Name of the response schema (default: from the file or class name).")
@click.option("--drop-unsupported", is_flag=True,
              help="For a provider of another line format: leave out what it cannot express (listed), as "
              "convert does.")  # fmt: skip
@provider_option
@limit_options
@report_options
@subset_options
@cluster_options
def build(
    table,
    output,
    system,
    user,
    input_,
    params,
    endpoint,
    on_empty,
    fmt,
    quiet,
    limit,
    sample,
    seed,
    **options,
):
    """Build a batch file from TABLE (CSV, TSV, XLSX, Parquet, JSON array or JSONL; '-' reads CSV).

    \b
    batchkit build questions.csv -o batch.jsonl --model M --user '{question}'
    batchkit build q.xlsx -o b.jsonl --model-column model --system @system.txt \\
        --user 'Topic: {topic}.\\n{question}' --param max_tokens=1000
    batchkit build docs.parquet -o emb.jsonl --endpoint /v1/embeddings --model E --input '{text}'
    batchkit build reviews.csv -o b.jsonl --model M --user '{review} ({rating})' \\
        --on-empty rating=keep --on-empty review=skip

    Every request is validated for --provider, and written in its line format (Anthropic, Gemini,
    Bedrock, Mistral: their own lines); nothing is written when one is invalid (unless --force).
    Requests over the provider's per-file limits go to OUT-00001.jsonl, OUT-00002.jsonl, …
    Finding line numbers are data-row numbers (1 is the first row under the header).
    """
    from ..build import CHAT, EMBEDDINGS, BuildStats, EmptyPolicy, build_file, parse_params, template_argument

    policy = EmptyPolicy.parse(on_empty)
    endpoint = endpoint or (EMBEDDINGS if input_ is not None else CHAT)
    params = _with_response_schema(parse_params(params), options, endpoint, fmt, quiet)
    stats = BuildStats()
    note = "(line numbers above are data-row numbers of the table: 1 is the first row under the header)"
    cluster = on_cluster(options)
    try:
        with progress_bar(quiet or bool(cluster), " rows") as update:
            result = (on_dask.build if cluster else build_file)(
                table,
                output,
                **({"cluster": cluster} if cluster else {"progress": update, "stats": stats}),
                system=template_argument(system, "--system"),
                user=template_argument(user, "--user"),
                input=template_argument(input_, "--input"),
                params=params,
                endpoint=endpoint,
                on_empty=policy,
                subset=subset_of(limit, sample, seed),
                **options,
            )
    except ValidationFailed as e:
        report_failure(e, fmt, quiet, note)
    print_report(result.report, fmt, quiet, note)
    if not quiet:
        (_echo_cluster_summary(result) if cluster else _echo_build_summary(result, policy, output, options))


def _echo_cluster_summary(result) -> None:
    from ..report import counted

    say(f"built {counted(len(result.paths), 'file')} from {counted(result.partitions, 'partition')}: "
               f"{counted(result.requests, 'request')}, {human_bytes(result.bytes)}; manifest {result.manifest}",
               err=True)  # fmt: skip


def _with_response_schema(params: dict, options: dict, endpoint: str, fmt: str, quiet: bool) -> dict:
    """`params` with the response format a --response-schema / --response-model asks for."""
    structured = _response_schema(options, endpoint, fmt, quiet)
    if structured is not None:
        clash = sorted(params.keys() & structured.fields.keys())
        if clash:
            raise UsageError(
                f"--param {clash[0]} and a response schema both set {clash[0]}; give one of them"
            )
        _check_template_format(options.get("body_template"), structured.fields)
        params.update(structured.fields)
    return params


def _response_schema(options: dict, endpoint: str, fmt: str, quiet: bool):
    """The response format --response-schema / --response-model ask for (None without them); what strict
    mode needed added is said on standard error."""
    from ..build import load_schema_file, model_schema, response_schema, schema_name

    path, model, name = (options.pop(k) for k in ("response_schema", "response_model", "schema_name"))
    if path is not None and model is not None:
        raise UsageError("give --response-schema or --response-model, not both")
    if path is None and model is None:
        if name is not None:
            raise UsageError("--schema-name names a --response-schema or --response-model; give one")
        return None
    if endpoint.rstrip("/").endswith("embeddings"):
        raise UsageError(
            f"{endpoint} requests have no response format; drop --response-schema/--response-model"
        )
    if path is not None:
        schema, default = load_schema_file(path), Path(path).stem
    else:
        schema, default = model_schema(model)
    try:
        result = response_schema(schema, name or schema_name(default), endpoint)
    except ValidationFailed as e:
        report_failure(e, fmt, quiet)
    if not quiet:
        for repair in result.repairs:
            say(f"response schema {result.name}: {repair} (strict mode needs it)", err=True)
        for warning in result.warnings:
            say(f"response schema {result.name}: {warning.path}: warning: {warning.message}", err=True)
    return result


def _check_template_format(path, fields: dict) -> None:
    """A --body-template that sets the response format itself would be overwritten without a word."""
    if path is None:
        return
    from ..build import load_body_template

    field = next(iter(fields))
    if field in load_body_template(path):
        raise UsageError(f"--body-template sets {field} and so does the response schema; give one of them")


def _echo_build_summary(result, policy, output, options: dict) -> None:
    """What was read, skipped and written, the empty cells per column, the models and the files."""
    from ..report import counted

    s = result.stats
    where = result.paths[0] if len(result.paths) == 1 else f"{result.paths[0]} … {result.paths[-1]}"
    # (--limit and --sample write some of the requests made)
    made = (
        f"{counted(s.requests, 'request')} made, {result.requests:,}"
        if s.requests != result.requests
        else None
    )
    say(
        f"built {where}: {counted(s.rows, 'row')} read, {made or counted(result.requests, 'request')} written "
        f"({counted(len(result.paths), 'file')}, {human_bytes(result.bytes)})",
        err=True,
    )
    if s.empty:
        done = {"keep": "kept", "skip": "rows skipped", "error": "rows skipped"}
        cells = ", ".join(
            f"{column!r} {counted(n, 'cell')} ({done[policy.choice(column)]})"
            for column, n in s.empty.items()
        )
        say(f"  empty cells: {cells}", err=True)
    for note in s.notes(options.get("id_column")):
        say(f"  {cli_words(note)}", err=True)
    if options.get("max_tokens") is not None:
        say(
            f"  max_tokens {options['max_tokens']:,} on every request (prompt tokens per file: --max-file-tokens)",
            err=True,
        )
    if s.skipped:
        reasons = ", ".join(f"{reason} ({n:,})" for reason, n in sorted(s.skipped.items()))
        rows = ", ".join(map(str, s.skipped_rows)) + (
            ", …" if sum(s.skipped.values()) > len(s.skipped_rows) else ""
        )
        say(f"  skipped {counted(sum(s.skipped.values()), 'row')}: {reasons}; rows {rows}", err=True)
    if result.report is not None:
        models = result.report.summary.models
        say("  models: " + (", ".join(f"{m} ({n:,})" for m, n in sorted(models.items())) or "none"), err=True)
        if not models and options.get("model"):  # the provider's lines name none: the batch does
            provider = options.get("provider")
            files = " ".join(shlex.quote(str(path)) for path in result.paths)  # every shard written
            say(f"  {provider} lines name no model, the batch does: `batchkit submit {files} --provider {provider} "
                f"--model {shlex.quote(options['model'])}`", err=True)  # fmt: skip
    echo_files(result, output)
