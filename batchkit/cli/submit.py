"""`batchkit submit`: validate, upload and create batches (a queue under the provider's caps)."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import JobFailed, ValidationFailed
from .common import chosen_file, say, subset_of, subset_options
from .following import fail_unless_completed, follow, show_outcomes
from .remote_display import Display, finished_line, show_download
from .remote_options import connection_options, open_session


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@connection_options
@click.option("--completion-window", default="24h", show_default=True, help="How long the provider may take.")
@click.option(
    "--metadata", "metadata_pairs", multiple=True, metavar="KEY=VALUE", help="Batch metadata (repeatable)."
)
@click.option("--model", metavar="NAME",
              help="The batch's model, for APIs that take it on the batch (Gemini, Mistral) "
              "[default: the one model the requests name].")  # fmt: skip
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
@click.option("--prices", type=click.Path(exists=True, dir_okay=False), metavar="FILE",
              help="With --max-cost: a JSON prices file whose entries replace or add to the shipped ones "
              "(the shape `batchkit estimate --prices` takes).")  # fmt: skip
@subset_options
def submit(
    files, provider, base_url, api_key_env, completion_window, metadata_pairs, model, wait, no_validate, force,
    interval, output_dir, quiet, max_enqueued_tokens, max_batches, max_cost, prices, limit, sample, seed,
):  # fmt: skip
    """Validate, upload and create one batch per FILE (shards from `build` go together). A file's content
    identifies its batch: a copy under another name is the same batch, and is not submitted again.

    With an enqueued-token cap (--max-enqueued-tokens, or the provider's own) or --max-batches, the files
    form a queue: each goes when it fits, a batch refused with token_limit_exceeded goes again later as a
    new batch, and the command returns when all have ended. Run it again after an interruption to resume."""
    from ..remote import QueueOptions, check_cost, check_countable, parse_metadata, shard_tokens

    metadata = parse_metadata(metadata_pairs)
    subset = subset_of(limit, sample, seed)
    files = [str(chosen_file(Path(f), subset, quiet)) for f in files]
    display = Display(quiet)
    with open_session(provider, base_url, api_key_env) as session:
        target = session.connection.target()
        cap = max_enqueued_tokens if max_enqueued_tokens is not None else target.provider.enqueued_tokens
        queued = cap is not None or max_batches is not None
        if queued or max_cost is not None:  # the files are read for their tokens only when needed
            tokens, counted = shard_tokens([Path(f) for f in files], target.provider.name, prices)
            if max_cost is not None:
                check_cost(counted, max_cost, target)  # before anything is uploaded
            if cap is not None:
                check_countable(counted, "the enqueued-token cap")
        if queued:
            options = {"completion_window": completion_window, "metadata": metadata,
                       "validate": not no_validate, "force": force, "model": model}  # fmt: skip
            queue_options = QueueOptions(cap, max_batches, interval)
            batches = _queue(session, zip(files, tokens, strict=True), display, options, queue_options)
            if wait:
                _download_all(files, batches, session, output_dir, display)
            fail_unless_completed(batches)
            return
        submitted = _submit_all(session, files, display, completion_window=completion_window,
                                metadata=metadata, validate=not no_validate, force=force, model=model)  # fmt: skip
        refs = [str(s.path) for s in submitted]
        if not wait:
            if submitted and not quiet:
                say(f"follow with: batchkit watch {' '.join(refs)}", err=True)
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
            say(_submitted_line(result))
    except ValidationFailed as e:
        display.close()
        if e.report is not None:
            say(render([e.report], "text", quiet=True))
        raise
    except KeyboardInterrupt:
        display.close()
        say("\ninterrupted; run the same command again to resume where it stopped", err=True)
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
        say("\ninterrupted; run the same command again to resume where it stopped", err=True)
        raise SystemExit(130) from None
    finally:
        display.close()
    for shard in done:
        again = f", sent {shard.refusals + 1} times (token_limit_exceeded)" if shard.refusals else ""
        say(f"{shard.path}: {finished_line(shard.batch)}{again}")
    return [shard.batch for shard in done]


def _download_all(files, batches, session, output_dir, display) -> None:
    for ref, batch in zip(files, batches, strict=True):
        if batch.output_file_id or batch.error_file_id:
            try:
                show_download(session.download(str(ref), out_dir=output_dir, progress=display))
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
    batches = follow(refs, session, interval, display)
    show_outcomes(batches)
    _download_all(refs, batches, session, output_dir, display)
    fail_unless_completed(batches)
