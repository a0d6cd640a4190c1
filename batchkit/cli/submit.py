"""`batchkit submit`: validate, upload and create batches (a queue under the provider's caps)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import click

from ..errors import JobFailed, UsageError, ValidationFailed
from .answer_options import cache_options, chosen_cache, chosen_rounds, rounds_options
from .common import chosen_file, say, subset_of, subset_options
from .following import fail_unless_completed, follow, show_outcomes
from .remote_display import Display, finished_line, rounds_summary, show_download
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
@click.option("--stage", metavar="URL",
              help="Vertex AI, Bedrock: the bucket prefix the file is staged under (gs://BUCKET/PREFIX/, "
              "s3://BUCKET/PREFIX/), named by its content; the job's outputs go under PREFIX/output/.")  # fmt: skip
@click.option("--role-arn", metavar="ARN",
              help="Bedrock: the service role the job reads and writes the bucket with.")  # fmt: skip
@click.option("--wait", is_flag=True, help="Watch until done, then download the results.")
@click.option("--allow-failures", is_flag=True,
              help="Exit 0 even when some requests of a completed batch failed (with --wait, or a "
              "queue).")  # fmt: skip
@click.option("--no-validate", is_flag=True, help="Upload without validating first.")
@click.option(
    "--force", is_flag=True, help="Submit again even if the ledger says this content was submitted."
)
@click.option("--adopt", metavar="ID",
              help="The batch an interrupted create of FILE made, where the API keeps no metadata to prove "
              "it (Anthropic): batchkit names the candidates and takes the one given here.")  # fmt: skip
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
@cache_options
@rounds_options
@subset_options
def submit(
    files, provider, base_url, api_key_env, completion_window, metadata_pairs, model, stage, role_arn, wait,
    allow_failures, no_validate, force, adopt, interval, output_dir, quiet, max_enqueued_tokens, max_batches, max_cost,
    prices, cache_path, no_cache, until_done, max_rounds, limit, sample, seed,
):  # fmt: skip
    """Validate, upload and create one batch per FILE (shards from `build` go together). A file's content
    identifies its batch: a copy under another name is the same batch, and is not submitted again.

    Requests the answer cache has a good answer for are not sent: their answers are written into
    NAME.output.jsonl when it is downloaded (a file answered whole makes no batch). --until-done (with
    --wait) sends again, round after round, what failed for a reason that passes, what has no result and
    answers that do not follow their response schema. With --wait it exits 1 when a batch did not complete
    or requests failed (--allow-failures accepts those; with --until-done: when one has no answer).

    With an enqueued-token cap (--max-enqueued-tokens, or the provider's own) or --max-batches, the files
    form a queue: each goes when it fits, a batch refused with token_limit_exceeded goes again later as a
    new batch, and the command returns when all have ended. Run it again after an interruption to resume."""
    from ..remote import QueueOptions, Staging, check_cost, check_countable, parse_metadata, shard_tokens

    metadata = parse_metadata(metadata_pairs)
    rounds = chosen_rounds(until_done, max_rounds)
    if rounds and not wait:
        raise UsageError(
            "--until-done needs --wait: it follows each batch to its end to send again what failed"
        )
    cache = chosen_cache(cache_path, no_cache)
    staging = Staging(stage, role_arn) if stage or role_arn else None
    files = _chosen_files(files, subset_of(limit, sample, seed), quiet, adopt)
    display = Display(quiet)
    options = {"completion_window": completion_window, "metadata": metadata, "validate": not no_validate,
               "force": force, "model": model, "staging": staging, "cache": cache, "adopt": adopt}  # fmt: skip
    with open_session(provider, base_url, api_key_env) as session, _closing(cache):
        target = session.connection.target()
        cap = max_enqueued_tokens if max_enqueued_tokens is not None else target.provider.enqueued_tokens
        queued = cap is not None or max_batches is not None
        if queued or max_cost is not None:  # the files are read for their tokens only when needed
            tokens, counted = shard_tokens([Path(f) for f in files], target.provider.name, prices, model)
            if max_cost is not None:
                check_cost(counted, max_cost, target)  # before anything is uploaded
            if cap is not None:
                check_countable(counted, "the enqueued-token cap")
        queue_options = QueueOptions(cap, max_batches, interval) if queued else None
        if rounds:
            _until_done(session, files, display, options, (rounds, interval, output_dir, queue_options))
            return
        if queued:
            batches = _queue(session, zip(files, tokens, strict=True), display, options, queue_options)
            if wait:
                _download_all(files, batches, session, output_dir, display)
            fail_unless_completed(batches, allow_failures)
            return
        submitted = _submit_all(session, files, display, **options)
        refs = [str(s.path) for s in submitted if s.batch is not None]
        if not wait:
            if refs and not quiet:
                say(f"follow with: batchkit watch {' '.join(refs)}", err=True)
            _fail_if_known_failed(submitted)
            return
        _wait_and_download(submitted, session, interval, output_dir, display, allow_failures)


def _chosen_files(files, subset, quiet: bool, adopt: str | None) -> list[str]:
    """The files to submit (or the subset of each that --limit/--sample chose)."""
    from ..remote.sending import one_file_to_adopt

    chosen = [str(chosen_file(Path(f), subset, quiet)) for f in files]
    one_file_to_adopt(adopt, chosen)
    return chosen


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
    with _resumable(display):
        done = queue.run()
    for shard in done:
        again = f", sent {shard.refusals + 1} times (token_limit_exceeded)" if shard.refusals else ""
        end = finished_line(shard.batch) if shard.batch else "answered whole from the answer cache; no batch"
        say(f"{shard.path}: {end}{again}")
    return [shard.batch for shard in done]


@contextlib.contextmanager
def _resumable(display):
    """Ctrl-C stops the command with a word on how to resume; the display is closed either way."""
    try:
        yield
    except KeyboardInterrupt:
        display.close()
        say("\ninterrupted; run the same command again to resume where it stopped", err=True)
        raise SystemExit(130) from None
    finally:
        display.close()


@contextlib.contextmanager
def _closing(cache):
    try:
        yield cache
    finally:
        if cache is not None:
            cache.close()


def _download_all(files, batches, session, output_dir, display) -> None:
    for ref, batch in zip(files, batches, strict=True):
        if batch is None or batch.output_file_id or batch.error_file_id:
            try:
                show_download(session.download(str(ref), out_dir=output_dir, progress=display))
            finally:
                display.close()


def _cache_part(result) -> str:
    """'; 100 answered from the answer cache, 10 sent' when the cache answered some."""
    if not result.cached:
        return ""
    sent = f", {result.sent:,} sent" if result.sent is not None else ""
    return f"; {result.cached:,} answered from the answer cache{sent}"


def _submitted_line(result) -> str:
    path, batch = result.path, result.batch
    if batch is None:
        return (
            f"{path}: all {result.cached:,} request(s) answered from the answer cache; no batch was made "
            f"(`batchkit download {path}` writes the answers)"
        )
    if not result.existing:
        return f"{path}: submitted as {batch.id} ({batch.status}){_cache_part(result)}"
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


def _wait_and_download(submitted, session, interval, output_dir, display, allow_failures) -> None:
    refs = [str(s.path) for s in submitted if s.batch is not None]
    batches = follow(refs, session, interval, display) if refs else []
    show_outcomes(batches)
    ended = iter(batches)
    _download_all([s.path for s in submitted], [next(ended) if s.batch else None for s in submitted], session,
                  output_dir, display)  # fmt: skip
    fail_unless_completed(batches, allow_failures)


def _until_done(session, files, display, options, following) -> None:
    """Rounds of batches until every request has its answer (remote.rounds); each round's summary, and
    exit 1 when some request has none. `following`: (max rounds, interval, output folder, queue options)."""
    from ..remote import SubmitOptions, UntilDone

    max_rounds, interval, output_dir, queue = following
    driver = UntilDone(session, SubmitOptions(**options), max_rounds=max_rounds, interval=interval,
                       out_dir=output_dir, progress=display, queue=queue)  # fmt: skip
    with _resumable(display):
        chains = driver.run(files)
    for chain in chains:
        for line in rounds_summary(chain, max_rounds):
            say(line)
    unfinished = [chain for chain in chains if not chain.done]
    if unfinished:
        raise JobFailed(f"{len(unfinished)} file(s) still have requests without their answer")
