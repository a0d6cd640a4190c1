"""The `batchkit` command: a thin click layer. Each command lives in the module of this package named
after it, and is imported only when it runs, so `batchkit --help` and `batchkit validate` never import
pandas. What several commands share sits in modules named for what it is (remote_options, writing, …)."""

from __future__ import annotations

import importlib
import logging
import signal
import sys
import warnings

import click

from ..atomic import interrupt, refuse_if_interrupted, remove_own_parts
from ..errors import BatchkitError

# command name → ("module:attribute" inside batchkit.cli, the line `batchkit --help` shows for it)
COMMANDS = {
    "validate": ("validate:validate", "Check batch files before upload."),
    "build": ("build:build", "Build a batch file from a table of prompts."),
    "split": ("split:split", "Shard a batch file under a provider's limits."),
    "fix": ("fix:fix", "Repair what can be repaired in a batch file."),
    "serve": ("serve:serve", "Run a local OpenAI-compatible Files + Batches server."),
    "run": ("run:run", "Execute a batch file against any OpenAI-compatible server."),
    "models": ("models:models", "List the provider's models."),
    "submit": ("submit:submit", "Upload batch files and create batches."),
    "status": ("status:status", "Show a batch's status."),
    "watch": ("watch:watch", "Follow batches until they finish."),
    "download": ("download:download", "Download a batch's output and error files."),
    "list": ("list:list_batches", "List batches submitted from here (or the provider's)."),
    "cancel": ("cancel:cancel", "Cancel a batch."),
    "merge": ("merge:merge", "Join results back to the input rows."),
    "retry": ("retry:retry", "Write what failed as a new batch file."),
    "forget": ("forget:forget", "Remove a batch or file from this machine's ledger."),
    "estimate": ("estimate:estimate", "Count prompt tokens and the cost range of batch files."),
    "convert": ("convert:convert", "Convert a batch file to another provider's line format."),
    "cache": ("cache:cache", "Count, prune or clear the answer cache (stats, prune, clear)."),
    "map": ("map:map_table", "Answer a table's rows in one command (to one model or several)."),
}


class ToolError(click.ClickException):
    """A BatchkitError at the edge: one line on stderr, the error's own exit code."""

    def __init__(self, error: BatchkitError):
        from .flags import cli_words

        super().__init__(cli_words(error.message))
        self.exit_code = error.exit_code

    def show(self, file=None):
        from .common import say

        say(f"batchkit: error: {self.format_message()}", err=True)


class LazyGroup(click.Group):
    def invoke(self, ctx):
        said = False  # that it was interrupted, in the command's own words (submit, watch, run)
        try:
            try:
                return super().invoke(ctx)
            except SystemExit as e:
                said = e.code == 130
                raise
            finally:  # however it ends, a command interrupted where a library swallowed it says so
                if not said:
                    refuse_if_interrupted()
        except BatchkitError as e:
            if ctx.params.get("debug"):
                raise
            raise ToolError(e) from e
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM: what was being written is already removed
            remove_own_parts()  # and whatever part a writer stopped at the wrong moment still holds
            if ctx.params.get("debug"):
                raise
            from .common import say

            say("\nbatchkit: interrupted; nothing half-written is left behind", err=True)
            raise SystemExit(130) from None

    def list_commands(self, ctx):
        return list(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        module, attr = COMMANDS[name][0].split(":")
        return getattr(importlib.import_module(f"{__name__}.{module}"), attr)

    def format_commands(self, ctx, formatter):
        # The short help from the table, so `batchkit --help` imports no command module.
        with formatter.section("Commands"):
            formatter.write_dl([(name, summary) for name, (_target, summary) in COMMANDS.items()])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="llm-batchkit", prog_name="batchkit")
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
@click.pass_context
def cli(ctx, debug):
    """batchkit: build, validate, submit and merge JSONL batch files for OpenAI-compatible Batch APIs.

    \b
    batchkit validate batch.jsonl            check a file before upload
    batchkit build questions.csv -o b.jsonl  make one from a table
    batchkit submit b.jsonl --wait           upload, run, download
    batchkit merge b.jsonl --results b.output.jsonl -o merged.csv
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def main():
    # SIGTERM (timeout, systemd, Kubernetes, CI) stops a command as Ctrl-C does, so what it was writing
    # is removed, not left half-written; both go through `interrupt`, which remembers them, so one a
    # library swallowed still stops the command before it commits a write. (A SIGINT ignored from the
    # start, as in a shell's background job, stays ignored.) `serve` installs its own handlers.
    signal.signal(signal.SIGTERM, interrupt)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, interrupt)
    library_output_through_filter()
    cli(prog_name="batchkit")


def library_output_through_filter() -> None:
    """A library's warnings and log lines may quote what a server sent (an SDK warns of a state it does
    not know, naming it): they go through the printable filter too, log lines without their tracebacks
    (a library that logs an exception raises it, and batchkit says in one line what failed); and so does
    a traceback (--debug), whose last line quotes the error."""
    warnings.showwarning = _show_warning
    logging.lastResort = _SayHandler(logging.WARNING)
    sys.excepthook = _show_traceback


def _show_traceback(kind, error, trace) -> None:
    import traceback

    from .common import say

    say("".join(traceback.format_exception(kind, error, trace)).rstrip("\n"), err=True)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    from .common import say

    say(warnings.formatwarning(message, category, filename, lineno, line).rstrip("\n"), err=True)


class _SayHandler(logging.Handler):
    """Where log records go when nothing else takes them (Python's last resort prints them raw)."""

    def emit(self, record: logging.LogRecord) -> None:
        from .common import say

        say(f"{record.name}: {record.getMessage()}", err=True)
