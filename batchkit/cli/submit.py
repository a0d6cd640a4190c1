"""`batchkit models / submit / status / watch / download / list / cancel`: thin commands over batchkit.remote."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click
import orjson

from ..errors import JobFailed, ValidationFailed
from ..providers import PROVIDERS
from ..report import printable
from .common import Bars, chosen_file, subset_of, subset_options
from .flags import cli_words


def connection_options(f):
    f = click.option(
        "--api-key-env",
        metavar="VAR",
        help="Environment variable holding the API key (default: the provider's, e.g. KLUSTER_API_KEY).",
    )(f)
    f = click.option(
        "--base-url",
        metavar="URL",
        help="Any OpenAI-compatible API, e.g. http://127.0.0.1:8000/v1 [env: BATCHKIT_BASE_URL].",
    )(f)
    f = click.option(
        "--provider",
        "-p",
        type=click.Choice(list(PROVIDERS), case_sensitive=False),
        help="Provider profile and address [env: BATCHKIT_PROVIDER; default: kluster].",
    )(f)
    return f


def format_options(f):
    """--format text|json, and --json kept as a hidden alias for --format json."""
    f = click.option("--json", "as_json", is_flag=True, hidden=True, help="Same as --format json.")(f)
    f = click.option(
        "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
        help="text for people, json for programs.",
    )(f)  # fmt: skip
    return f


def _session(provider, base_url, api_key_env):
    from ..remote import Connection, Session

    return Session(Connection(provider, base_url, api_key_env))


def _when(epoch: int | None) -> str:
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _json(value) -> None:
    click.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())


def _table(rows: list[list[str]]) -> None:
    if not rows:
        return
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo(
            "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def _counts(batch) -> str:
    if not batch.total:
        return "no request counts"
    return f"{batch.completed}/{batch.total} completed, {batch.failed} failed"


class Display(Bars):
    """Progress for people: bars on a terminal, a few plain lines otherwise, nothing with -q."""

    def __init__(self, quiet: bool = False):
        super().__init__(quiet)
        self.quiet = quiet
        self.last_state: dict[str, tuple] = {}

    def __call__(self, event) -> None:
        if self.quiet:
            return
        if event.kind == "note":
            self.write(f"{event.subject}: {event.message}")
        elif event.kind in ("upload", "download") and self.on:
            key = f"{event.kind} {event.subject}"
            bar = self.get(key, total=event.total, unit="B", unit_scale=True, leave=True)
            bar.update(event.done - bar.n)
            if event.total is not None and event.done >= event.total:
                self.close(key)
        elif event.kind == "batch":
            self._batch(event.batch)
        elif event.kind == "submitted":
            self.write(f"{event.subject}: submitted as {event.batch.id} ({event.batch.status})")
        elif event.kind == "queue" and self.last_state.get("queue") != event.message:
            self.last_state["queue"] = event.message
            self.write(event.message)

    def _batch(self, batch) -> None:
        key = f"batch {batch.id}"
        if self.on:
            bar = self.get(key, total=batch.total or None, unit="req", leave=True)
            if batch.total and bar.total != batch.total:
                bar.total = batch.total
            bar.update(batch.completed + batch.failed - bar.n)
            bar.set_postfix_str(f"{batch.status}, {batch.failed} failed", refresh=True)
            if batch.terminal:
                self.close(key)
            return
        state = (batch.status, batch.completed, batch.failed)
        # The end is printed by the command itself; here only the way there.
        if not batch.terminal and self.last_state.get(key) != state:
            self.last_state[key] = state
            click.echo(f"{batch.id}: {batch.status} ({_counts(batch)})", err=True)


def _print_errors(batch) -> None:
    for error in batch.errors[:20]:
        click.echo(f"  {error}", err=True)
    if len(batch.errors) > 20:
        click.echo(f"  … and {len(batch.errors) - 20} more", err=True)


def _finished_line(batch) -> str:
    return f"{batch.id}: {batch.status} ({_counts(batch)})"


# --- commands --------------------------------------------------------------------------------------------


@click.command()
@connection_options
@format_options
def models(provider, base_url, api_key_env, fmt, as_json):
    """List the models the provider serves."""
    with _session(provider, base_url, api_key_env) as session:
        found = session.models()
    if as_json or fmt == "json":
        _json([m.to_dict() for m in found])
        return
    _table([["MODEL", "OWNED BY", "CREATED"]] + [[m.id, m.owned_by or "-", _when(m.created)] for m in found])


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@connection_options
@click.option("--completion-window", default="24h", show_default=True, help="How long the provider may take.")
@click.option(
    "--metadata", "metadata_pairs", multiple=True, metavar="KEY=VALUE", help="Batch metadata (repeatable)."
)
@click.option("--wait", is_flag=True, help="Watch until done, then download the results.")
@click.option("--no-validate", is_flag=True, help="Upload without validating first.")
@click.option(
    "--force", is_flag=True, help="Submit again even if the ledger says this content was submitted."
)
@click.option("--interval", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
              help="With --wait: the longest pause between status checks, in seconds.")  # fmt: skip
@click.option("-o", "--output-dir", type=click.Path(file_okay=False), help="With --wait: where results go.")
@click.option("-q", "--quiet", is_flag=True, help="No progress, only results.")
@click.option("--max-enqueued-tokens", type=click.IntRange(min=1), metavar="N",
              help="Keep the prompt tokens of in-flight batches per model at most N, sending the next file "
              "when earlier ones end [default: the provider's published limit, if it has one].")  # fmt: skip
@click.option("--max-batches", type=click.IntRange(min=1), metavar="K", help="At most K batches in flight.")
@click.option("--max-cost", type=click.FloatRange(min=0), metavar="AMOUNT",
              help="Refuse, before uploading, when the estimated cost's upper bound exceeds AMOUNT.")  # fmt: skip
@subset_options
def submit(
    files, provider, base_url, api_key_env, completion_window, metadata_pairs, wait, no_validate, force,
    interval, output_dir, quiet, max_enqueued_tokens, max_batches, max_cost, limit, sample, seed,
):  # fmt: skip
    """Validate, upload and create one batch per FILE (shards from `build` go together). A file's content
    identifies its batch: a copy under another name is the same batch, and is not submitted again.

    With an enqueued-token cap (--max-enqueued-tokens, or the provider's own) or --max-batches, the files
    form a queue: each goes when it fits, a batch refused with token_limit_exceeded goes again later as a
    new batch, and the command returns when all have ended. Run it again after an interruption to resume."""
    from ..remote import QueueOptions, check_cost, parse_metadata, shard_tokens

    metadata = parse_metadata(metadata_pairs)
    subset = subset_of(limit, sample, seed)
    files = [str(chosen_file(Path(f), subset, quiet)) for f in files]
    display = Display(quiet)
    with _session(provider, base_url, api_key_env) as session:
        target = session.connection.target()
        cap = max_enqueued_tokens if max_enqueued_tokens is not None else target.provider.enqueued_tokens
        queued = cap is not None or max_batches is not None
        if queued or max_cost is not None:  # the files are read for their tokens only when needed
            tokens, counted = shard_tokens([Path(f) for f in files], target.provider.name)
            if max_cost is not None:
                check_cost(counted, max_cost)  # before anything is uploaded
        if queued:
            options = {"completion_window": completion_window, "metadata": metadata,
                       "validate": not no_validate, "force": force}  # fmt: skip
            queue_options = QueueOptions(cap, max_batches, interval)
            batches = _queue(session, zip(files, tokens, strict=True), display, options, queue_options)
            if wait:
                _download_all(files, batches, session, output_dir, display)
            _fail_unless_completed(batches)
            return
        submitted = _submit_all(session, files, display, completion_window=completion_window,
                                metadata=metadata, validate=not no_validate, force=force)  # fmt: skip
        refs = [str(s.path) for s in submitted]
        if not wait:
            if submitted and not quiet:
                click.echo(f"follow with: batchkit watch {' '.join(refs)}", err=True)
            _fail_if_known_failed(submitted)
            return
        _wait_and_download(refs, session, interval, output_dir, display)


def _submit_all(session, files, display, **options) -> list:
    from ..report import render

    submitted = []
    try:
        for result in session.submit(files, progress=display, **options):
            display.close()
            submitted.append(result)
            click.echo(_submitted_line(result))
    except ValidationFailed as e:
        display.close()
        if e.report is not None:
            click.echo(render([e.report], "text", quiet=True))
        raise
    except KeyboardInterrupt:
        display.close()
        click.echo("\ninterrupted; run the same command again to resume where it stopped", err=True)
        raise SystemExit(130) from None
    return submitted


def _queue(session, counted_files, display, options, queue_options) -> list:
    """The files (with their prompt tokens per model) as a queue under the caps (queue.py); each file's
    final batch, in the order given."""
    from ..remote import Queue, Shard, SubmitOptions

    shards = [Shard(Path(path), tokens) for path, tokens in counted_files]
    queue = Queue(session, shards, SubmitOptions(**options), queue_options, display)
    try:
        done = queue.run()
    except KeyboardInterrupt:
        display.close()
        click.echo("\ninterrupted; run the same command again to resume where it stopped", err=True)
        raise SystemExit(130) from None
    finally:
        display.close()
    for shard in done:
        again = f", sent {shard.refusals + 1} times (token_limit_exceeded)" if shard.refusals else ""
        click.echo(f"{shard.path}: {_finished_line(shard.batch)}{again}")
    return [shard.batch for shard in done]


def _download_all(files, batches, session, output_dir, display) -> None:
    for ref, batch in zip(files, batches, strict=True):
        if batch.output_file_id or batch.error_file_id:
            try:
                _show_download(session.download(str(ref), out_dir=output_dir, progress=display))
            finally:
                display.close()


def _submitted_line(result) -> str:
    path, batch = result.path, result.batch
    if not result.existing:
        return f"{path}: submitted as {batch.id} ({batch.status})"
    line = f"{path}: already submitted as {batch.id} ({batch.status})"
    if result.first_name:
        line += f" under the name {result.first_name}; recorded {path} as another name for it"
    if result.failed_for_the_file:
        first = batch.errors[0]
        return (
            f"{line}; it failed on the server because of the file's lines ({first}); fix the file and "
            "submit it again (changed content is a new submission)"
        )
    if batch.status in ("failed", "expired", "cancelled"):
        cause = f" ({batch.errors[0]})" if batch.errors else ""
        return f"{line}{cause}; not because of its lines: `batchkit submit {path} --force` submits it again"
    return f"{line}; `batchkit status {path}` shows it, --force submits it again"


def _fail_if_known_failed(submitted) -> None:
    ended = [s for s in submitted if s.existing and s.batch.status in ("failed", "expired", "cancelled")]
    if ended:
        names = ", ".join(f"{s.batch.id} {s.batch.status}" for s in ended)
        raise JobFailed(
            f"{len(ended)} file(s) were submitted before as batches that did not complete: {names}"
        )


def _wait_and_download(refs, session, interval, output_dir, display) -> None:
    batches = _watch(refs, session, interval, display)
    _show_outcomes(batches)
    for ref, batch in zip(refs, batches, strict=True):
        if batch.output_file_id or batch.error_file_id:
            try:
                _show_download(session.download(ref, out_dir=output_dir, progress=display))
            finally:
                display.close()
    _fail_unless_completed(batches)


def _watch(refs, session, interval, display):
    try:
        return session.watch(refs, interval=interval, progress=display)
    except KeyboardInterrupt:
        display.close()
        click.echo(
            f"\nstopped watching; the batches keep running. Resume with: batchkit watch {' '.join(refs)}",
            err=True,
        )
        raise SystemExit(130) from None
    finally:
        display.close()


def _show_outcomes(batches) -> None:
    """Each batch's end, with the provider's errors for those that did not complete."""
    for batch in batches:
        click.echo(_finished_line(batch))
        if batch.status != "completed":
            _print_errors(batch)


def _fail_unless_completed(batches) -> None:
    unfinished = [b for b in batches if b.status != "completed"]
    if unfinished:
        names = ", ".join(f"{b.id} {b.status}" for b in unfinished)
        raise JobFailed(f"{len(unfinished)} batch(es) did not complete: {names}")


def _show_download(result) -> None:
    if result.skipped:
        for path in result.files.values():
            click.echo(f"{path}: already downloaded (--force downloads again)")
        return
    if not result.batch.output_file_id:
        click.echo(f"{result.batch.id}: no output file (no request succeeded)", err=True)
    for kind, path in result.files.items():
        click.echo(f"{path}: {kind}, {result.lines.get(kind, 0)} line(s)")
    for problem in result.problems:
        click.echo(f"warning: {result.batch.id}: {problem}", err=True)


@click.command()
@click.argument("refs", nargs=-1, required=True, metavar="BATCH_ID|FILE...")
@connection_options
@format_options
def status(refs, provider, base_url, api_key_env, fmt, as_json):
    """Show a batch's status, counts, timestamps and errors (FILE: the batch its content was submitted as)."""
    with _session(provider, base_url, api_key_env) as session:
        results = [session.status(ref) for ref in refs]
    if as_json or fmt == "json":
        data = [batch.to_dict() | {"file": str(ref.path) if ref.path else None} for batch, ref in results]
        _json(data[0] if len(data) == 1 else data)
        return
    for batch, ref in results:
        _show_status(batch, ref)


def _show_status(batch, ref) -> None:
    click.echo(f"{batch.id}  {batch.status}")
    rows = [
        ["file", str(ref.path) if ref.path else "-"],
        ["endpoint", batch.endpoint or "-"],
        ["requests", f"{batch.total} total, {batch.completed} completed, {batch.failed} failed"],
    ]
    rows += [[name.removesuffix("_at"), _when(t)] for name, t in batch.times.items()]
    rows += [["output file", batch.output_file_id or "-"], ["error file", batch.error_file_id or "-"]]
    for name, value in rows:
        click.echo(f"  {name:<12} {value}")
    if batch.errors:
        click.echo("  errors:")
        for error in batch.errors:
            click.echo(f"    {error}")


@click.command()
@click.argument("refs", nargs=-1, required=True, metavar="BATCH_ID|FILE...")
@connection_options
@click.option("--interval", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
              help="The longest pause between status checks, in seconds.")  # fmt: skip
@click.option("-q", "--quiet", is_flag=True, help="No progress, only the outcome.")
def watch(refs, provider, base_url, api_key_env, interval, quiet):
    """Follow batches until they finish: exit 0 when all completed, 1 when any failed, expired or was
    cancelled. Ctrl-C stops watching; it never cancels."""
    display = Display(quiet)
    with _session(provider, base_url, api_key_env) as session:
        batches = _watch(refs, session, interval, display)
    _show_outcomes(batches)
    _fail_unless_completed(batches)


@click.command()
@click.argument("ref", metavar="BATCH_ID|FILE")
@connection_options
@click.option("-o", "--output-dir", type=click.Path(file_okay=False), help="Default: next to the file named.")
@click.option("--force", is_flag=True, help="Download again even if already downloaded.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
def download(ref, provider, base_url, api_key_env, output_dir, force, quiet):
    """Download a finished batch's output and error files (NAME.output.jsonl, NAME.errors.jsonl)."""
    display = Display(quiet)
    with _session(provider, base_url, api_key_env) as session:
        try:
            result = session.download(ref, out_dir=output_dir, force=force, progress=display)
        finally:
            display.close()
    if not result.files and result.batch.status != "completed":
        _print_errors(result.batch)
        raise JobFailed(f"batch {result.batch.id} {result.batch.status}; it has no results to download")
    _show_download(result)


@click.command("list")
@connection_options
@click.option("--remote", is_flag=True, help="The provider's list instead of this machine's ledger.")
@click.option("--prune", is_flag=True, help="First forget submissions that never became a batch.")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@format_options
def list_batches(provider, base_url, api_key_env, remote, prune, limit, fmt, as_json):
    """List batches submitted from this machine (or, with --remote, the provider's)."""
    as_json = as_json or fmt == "json"
    with _session(provider, base_url, api_key_env) as session:
        if prune:
            _prune(session)
        header, rows = (_remote_rows if remote else _local_rows)(session, limit, as_json)
        errors = (
            [] if remote else [(e.created_at, e.error) for e, _n in session.local_batches(limit) if e.error]
        )
    if as_json:
        return
    if not rows:
        click.echo("no batches" + ("" if remote else " submitted from here yet"), err=True)
        return
    _table([header] + rows)
    for when, error in errors:  # whole, under the table; a server's words are printed escaped
        click.echo(f"  {_when(when)}: {printable(cli_words(error))}")


def _remote_rows(session, limit, as_json):
    batches = session.remote_batches(limit)
    if as_json:
        _json([b.to_dict() for b in batches])
    header = ["BATCH", "STATUS", "DONE", "FAILED", "TOTAL", "CREATED", "FILE"]
    rows = [[b.id, b.status, b.completed, b.failed, b.total, _when(b.created_at),
             b.metadata.get("batchkit_file", "-")] for b in batches]  # fmt: skip
    return header, rows


def _local_rows(session, limit, as_json):
    listed = session.local_batches(limit)
    if as_json:
        _json([entry.to_dict() | {"names": [n.path for n in names]} for entry, names in listed])
    header = ["BATCH", "STATUS", "DONE", "FAILED", "TOTAL", "SUBMITTED", "FILE", "SERVER"]
    rows = []
    for e, names in listed:
        files = e.path + (f" (+{len(names) - 1} other name(s))" if len(names) > 1 else "")
        rows.append([e.batch_id or f"({e.step})", e.status or e.step, e.completed or 0,
                     e.failed or 0, e.total or 0, _when(e.created_at), files, e.base_url])  # fmt: skip
    return header, rows


def _prune(session) -> None:
    gone, kept = session.prune()
    click.echo(f"forgot {len(gone)} submission(s) that never became a batch", err=True)
    for entry in kept:
        why = "another process is submitting it" if entry.step != "creating" else (
            "its create was interrupted, so the batch may exist; `batchkit submit` looks for it"
        )  # fmt: skip
        click.echo(f"kept {entry.path}: {why}", err=True)


@click.command()
@click.argument("ref", metavar="BATCH_ID|FILE")
@connection_options
def forget(ref, provider, base_url, api_key_env):
    """Remove a batch (or a file's submissions) from this machine's ledger. The batch stays on the server:
    `batchkit cancel` stops it; a forgotten file can be submitted again."""
    with _session(provider, base_url, api_key_env) as session:
        entries = session.forget(ref)
    for entry in entries:
        what = entry.batch_id or f"an unfinished submission ({entry.step})"
        click.echo(f"forgot {what} of {entry.path} to {entry.base_url}")


@click.command()
@click.argument("ref", metavar="BATCH_ID|FILE")
@connection_options
def cancel(ref, provider, base_url, api_key_env):
    """Cancel a batch. What already finished is kept and can still be downloaded."""
    with _session(provider, base_url, api_key_env) as session:
        batch = session.cancel(ref)
    click.echo(f"{batch.id}: {batch.status} ({_counts(batch)}); finished results stay downloadable")
