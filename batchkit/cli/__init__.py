"""The `batchkit` command: a thin click layer. Each command lives in a small module of this package and
is imported only when it runs, so `batchkit --help` and `batchkit validate` never import pandas."""

from __future__ import annotations

import importlib
import importlib.util

import click

from ..errors import BatchkitError

# command name → "module:attribute" inside batchkit.cli
COMMANDS = {
    "validate": "validate:validate",
    "build": "build:build",
    "split": "build:split",
    "fix": "build:fix",
    "serve": "serve:serve",
    "run": "serve:run",
    "models": "submit:models",
    "submit": "submit:submit",
    "status": "submit:status",
    "watch": "submit:watch",
    "download": "submit:download",
    "list": "submit:list_batches",
    "cancel": "submit:cancel",
    "merge": "merge:merge",
    "retry": "merge:retry",
}

HELP = {
    "validate": "Check batch files before upload.",
    "build": "Build a batch file from a table of prompts.",
    "split": "Shard a batch file under a provider's limits.",
    "fix": "Repair what can be repaired in a batch file.",
    "serve": "Run a local OpenAI-compatible Files + Batches server.",
    "run": "Execute a batch file against any OpenAI-compatible server.",
    "models": "List the provider's models.",
    "submit": "Upload batch files and create batches.",
    "status": "Show a batch's status.",
    "watch": "Follow batches until they finish.",
    "download": "Download a batch's output and error files.",
    "list": "List batches submitted from here (or the provider's).",
    "cancel": "Cancel a batch.",
    "merge": "Join results back to the input rows.",
    "retry": "Write what failed as a new batch file.",
}


class ToolError(click.ClickException):
    """A BatchkitError at the edge: one line on stderr, the error's own exit code."""

    def __init__(self, error: BatchkitError):
        super().__init__(str(error))
        self.exit_code = error.exit_code

    def show(self, file=None):
        click.echo(f"batchkit: error: {self.format_message()}", err=True)


class LazyGroup(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except BatchkitError as e:
            if ctx.params.get("debug"):
                raise
            raise ToolError(e) from e

    def list_commands(self, ctx):
        return list(COMMANDS)

    def get_command(self, ctx, name):
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        try:
            mod = importlib.import_module(f"{__name__}.{module}")
        except ModuleNotFoundError as e:
            if e.name != f"{__name__}.{module}":
                raise
            return None
        return getattr(mod, attr)

    def format_commands(self, ctx, formatter):
        # Short help without importing every command module.
        rows = [(name, HELP.get(name, "")) for name in COMMANDS if self._available(name)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def _available(self, name):
        module = COMMANDS[name].split(":")[0]
        return importlib.util.find_spec(f"{__name__}.{module}") is not None


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
    cli(prog_name="batchkit")
