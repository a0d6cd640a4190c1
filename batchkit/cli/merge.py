"""`batchkit merge`: join results back to the input rows."""

from __future__ import annotations

from pathlib import Path

import click
from click.core import ParameterSource

from ..errors import MergeRefused, StaleResults
from . import on_dask
from .common import data_out, json_text, say
from .flags import cli_words
from .on_dask import cluster_options, on_cluster
from .results_options import JSON_LIMIT, StageBars, id_map_option, results_command, summary_format_options


@results_command
@click.option(
    "--source", metavar="TABLE", help="Join the results onto this table's rows (any format build reads)."
)
@click.option("--id-column", metavar="COL", help="The --source column build took custom_ids from.")
@click.option("--sheet", default=None, help="Excel sheet of --source (name or 0-based index).")
@click.option("--encoding", default=None, help="Text encoding of a CSV/TSV/JSON --source (default UTF-8).")
@click.option(
    "--delimiter",
    metavar="CHAR",
    help="The field separator of a CSV --source (default: the one of , ; tab | its first lines use).",
)
@click.option(
    "--id-prefix",
    default="row-",
    show_default=True,
    help="Prefix of the ids build generated from row numbers (used with --source).",
)
@click.option(
    "-o",
    "--output",
    required=True,
    metavar="MERGED",
    help="Output table; format by extension (csv, tsv, xlsx, parquet, jsonl); '-' prints CSV.",
)
@click.option(
    "--allow-missing",
    is_flag=True,
    help="Exit 0 even when some requests (or --source rows) have no result (a partial merge).",
)
@click.option(
    "--allow-stale",
    is_flag=True,
    help="Merge results produced for other requests too (the batch file changed after it was submitted, "
    "another batch's results), marked in a stale column.",
)
@click.option(
    "--escape-formulas/--no-escape-formulas",
    default=True,
    show_default=True,
    help="In CSV/TSV, prefix text cells that begin with = + - @ tab or CR with ' so no spreadsheet runs them.",
)
@click.option("--excel", is_flag=True, help="CSV/TSV for Excel: a UTF-8 byte-order mark and CRLF line ends.")
@id_map_option
@click.option(
    "--parse-json/--no-parse-json",
    default=None,
    help="Parse each answer as JSON into answer.FIELD columns and a parse_error column "
    "(default: when a request asked for a json_schema).",
)
@click.option(
    "--flatten",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    metavar="DEPTH",
    help="Spread nested objects of a parsed answer this many levels deep (answer.a.b); deeper as JSON.",
)
@summary_format_options
@click.option("-q", "--quiet", is_flag=True, help="No progress and no summary.")
@cluster_options
def merge(inputs, results, source, id_column, sheet, encoding, id_prefix, output, allow_missing, **options):
    """Join RESULTS back to the requests of the batch files INPUTS by custom_id.

    One row per request, in input order, with its status (ok, http_error, batch_error, expired, canceled,
    missing), answer, usage and error; or, with --source, the source table's rows with those columns after them.
    Orphan and duplicate results and requests without a result are reported, with an error digest.
    Of several results for one request a success beats a failure, and the newest wins.

    Exit status: 0 when every request (and --source row) has a result; 1 when some have none (0 with
    --allow-missing), and always when none has one or when results answer other requests than these
    (the ledger knows which requests a downloaded file answers; a result's model must be the one its
    request asked for): nothing is written then, unless --allow-stale; 2 for usage and file errors.
    An error file (NAME.errors.jsonl) that does not exist beside its NAME.output.jsonl means nothing failed.
    A batch_id column names the batch each answer was downloaded for.

    \b
    batchkit merge batch.jsonl --results output.jsonl errors.jsonl -o merged.csv
    batchkit merge batch.jsonl -r output.jsonl --source questions.xlsx -o answers.xlsx

    Answers to requests that asked for a json_schema are parsed: answer.FIELD columns, and parse_error
    says which rows are not JSON, were cut at the token limit, or do not match the schema (and where).
    """
    from ..atomic import refuse_inputs

    refuse_inputs(output, [*inputs, *results, *([source] if source else [])])
    quiet, as_json = options["quiet"], options["fmt"] == "json" or options["as_json"]
    cluster = on_cluster(options)
    if cluster:
        _refuse_on_dask(output, options)
        source_options = dict(source=source, id_column=id_column, id_prefix=id_prefix,
                              allow_stale=options["allow_stale"])  # fmt: skip
        return _merge_on_dask(inputs, results, output, source_options, allow_missing, cluster, quiet, as_json)
    source_options = dict(source=source, id_column=id_column, id_prefix=id_prefix, sheet=sheet,
                          encoding=encoding, delimiter=options.pop("delimiter"))  # fmt: skip
    try:
        result = _joined(inputs, results, output, source_options, options)
    except MergeRefused as e:
        return _refused(e, output, quiet, as_json)
    report = result.report
    written = None
    if report.joined or not report.requests:
        written = _write(result, output, options)
    verdict, status = _verdict(report, allow_missing)
    if not quiet:
        if as_json:
            summary = {**report.to_dict(JSON_LIMIT), "written": written and written.to_dict()}
            text = json_text({**summary, "ok": status == 0, "verdict": verdict})
        else:
            written_text = written and cli_words(
                written.to_text()
            )  # only our own words: the report quotes answers
            text = "\n".join(x for x in (report.to_text(), written_text, verdict) if x)
        say(text, err=output == "-")
    if status:
        click.get_current_context().exit(status)


def _joined(inputs, results, output, source_options: dict, options: dict):
    """The merge, joined: streamed (bounded memory) when nothing needs the whole frame, else the frame."""
    from ..results import merge_results, stream_merge, streamable

    progress = StageBars(options["quiet"])
    told = progress if progress.on else None
    try:
        plain = source_options["source"] is None and source_options["id_column"] is None
        plain = plain and options["id_map"] is None
        allow_stale, parse_json, flatten = options["allow_stale"], options["parse_json"], options["flatten"]
        if plain and streamable(results, output):
            result = stream_merge(inputs, results, told, allow_stale, parse_json, flatten)
        else:
            source = source_options.pop("source")
            id_column = source_options.pop("id_column")
            result = merge_results(inputs, results, source, id_column, **source_options, progress=told,
                                   id_map=options["id_map"], parse_json=parse_json, flatten=flatten,
                                   allow_stale=allow_stale)  # fmt: skip
    finally:
        progress.close()
    return result


# what a file of one table is named: on a cluster MERGED is a folder of Parquet files
TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx", ".xls", ".json", ".jsonl", ".ndjson")


def _refuse_on_dask(output: str, options: dict) -> None:
    """What a merge on a cluster does not do, said before anything is read."""
    if Path(output).suffix.lower() in TABLE_SUFFIXES:
        raise click.UsageError(
            f"-o {output}: on a cluster the merge writes a folder of Parquet files; name a folder (a name "
            "without a table's extension), or merge without the cluster to write one file"
        )
    given = click.get_current_context().get_parameter_source("flatten") != ParameterSource.DEFAULT
    if options["parse_json"] or given:
        raise click.UsageError(
            "--parse-json and --flatten are the merge's without a cluster: on one, structured answers stay "
            "the JSON text of the content column"
        )


def _merge_on_dask(inputs, results, output, source_options, allow_missing, cluster, quiet, as_json):
    """The join done by a Dask cluster; MERGED is a folder of Parquet files (one per input file, or per
    partition of --source)."""
    try:
        result = on_dask.merge(inputs, results, output, cluster, **source_options)
    except MergeRefused as e:
        return _refused(e, output, quiet, as_json)
    verdict, status = _verdict(result.report, allow_missing)
    if not quiet:
        if as_json:
            text = json_text({**result.report.to_dict(JSON_LIMIT), "ok": status == 0, "verdict": verdict})
        else:
            done = f"wrote {result.output}/ (Parquet files, in the order of the inputs or of the source)"
            text = "\n".join(x for x in (result.report.to_text(), done, verdict) if x)
        say(text)
    if status:
        click.get_current_context().exit(status)


def _write(result, output, options):
    from ..results import StreamedMerge, write_merged

    if isinstance(result, StreamedMerge):
        return result.write(
            output, data_out(), escape_formulas=options["escape_formulas"], excel=options["excel"]
        )
    return write_merged(
        result.frame,
        output,
        data_out(),
        sheet=result.report.source_sheet,
        escape_formulas=options["escape_formulas"],
        excel=options["excel"],
    )


def _refused(error, output, quiet: bool, as_json: bool) -> None:
    """A merge that would put wrong answers on rows (or none on any): the summary, why, exit 1."""
    report, verdict = error.report, cli_words(error.message)
    if isinstance(error, StaleResults):
        verdict = (
            f"not merged: {len(report.stale):,} result(s) were produced for other requests (listed above): "
            "merge the results of these requests (submit the batch file as it is now, then download), or "
            "--allow-stale to merge them, marked in a stale column; nothing written"
        )
    if not quiet:
        if as_json:
            text = json_text({**report.to_dict(JSON_LIMIT), "written": None, "ok": False, "verdict": verdict})
        else:
            text = "\n".join(x for x in (report.to_text(), verdict) if x)
        say(text, err=output == "-")
    click.get_current_context().exit(1)


def _verdict(report, allow_missing: bool) -> tuple[str, int]:
    """(the last line of the summary, exit status): they say the same thing."""
    missing = len(report.missing)
    if report.requests and not report.joined:
        return (
            f"nothing joined: none of the {report.requests:,} request(s) has a result in "
            f"{', '.join(report.results)} (are these the results of this batch?); nothing written",
            1,
        )
    if report.shared_ids:
        return (
            f"ambiguous: {report.shared_ids:,} request(s) share their custom_id with another request (the "
            "duplicate-custom-id errors): a result cannot say which of them it answers, so their rows may hold "
            "each other's answers; give each its own id (batchkit fix --dedupe-ids) and submit those again",
            1,
        )
    if missing and not allow_missing:
        return (
            f"incomplete: {missing:,} of {report.requests:,} request(s) have no result "
            "(exit 1; --allow-missing accepts a partial merge)",
            1,
        )
    rows = report.source_rows_without_request
    if report.source is not None and (rows or report.requests_without_source_row) and not allow_missing:
        hint = f"; did you mean --id-column {report.better_id_column}?" if report.better_id_column else ""
        return (
            f"incomplete: {rows:,} of {report.source_rows:,} source row(s) got no result and "
            f"{len(report.requests_without_source_row):,} result(s) found no row{hint} "
            "(exit 1; --allow-missing accepts a partial merge)",
            1,
        )
    if report.stale:
        return f"{len(report.stale):,} stale result(s) merged (--allow-stale), marked in the stale column", 0
    return "", 0
