"""What `merge` and `retry` share: batch files and the result files that answer them (several after one
--results), and a bar of bytes read per stage."""

from __future__ import annotations

import click

from .common import Bars, text_or_json

RESULTS_FLAGS = ("--results", "-r")
JSON_LIMIT = 1000  # entries per list in a --json summary (every list is also counted)

summary_format_options = text_or_json(help="The summary as text for people or JSON for programs.")
id_map_option = click.option(
    "--id-map",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    metavar="OUT.ids.jsonl",
    help="The id map `convert` wrote: results of the converted file join to the file it came from.",
)


class ResultsCommand(click.Command):
    """Lets `--results` take several files, as in `--results out.jsonl errors.jsonl`: every argument after
    it that is not an option is one more result file."""

    def parse_args(self, ctx, args):
        spread, greedy = [], False
        for arg in args:
            if arg in RESULTS_FLAGS:
                greedy = "pending"
                spread.append(arg)
                continue
            if greedy and (arg == "-" or not arg.startswith("-")):
                if greedy != "pending":
                    spread.append("--results")
                greedy = True
                spread.append(arg)
                continue
            greedy = False
            spread.append(arg)
        return super().parse_args(ctx, spread)


class StageBars(Bars):
    """A bar of bytes read per stage (requests, results): a `results.StageRead`."""

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        self.bytes_read(f"reading {stage}")(done, total)


def inputs_argument(f):
    return click.argument(
        "inputs", nargs=-1, required=True, type=click.Path(allow_dash=True, dir_okay=False)
    )(f)


def results_option(f):
    return click.option(
        *reversed(RESULTS_FLAGS),
        "results",
        multiple=True,
        required=True,
        type=click.Path(allow_dash=True, dir_okay=False),
        metavar="FILE...",
        help="Result files: output, error and shard files, any order and shape (repeatable).",
    )(f)


def results_command(f):
    """A command over batch files INPUTS and `--results FILE...`: those two first, then `f`'s own options."""
    return click.command(cls=ResultsCommand)(inputs_argument(results_option(f)))
