"""Options and helpers shared by the command modules."""

from __future__ import annotations

import os
import sys

import click

from .. import report
from ..formats import DIALECTS
from ..providers import PROVIDER_ENV, PROVIDERS
from ..report import FORMATS

DEFAULT_PROVIDER_HELP = "kluster; for a file in another format, that format's provider"


def provider_option(
    f=None,
    *,
    help: str = "Whose limits and rules to check against.",
    default_help: str = DEFAULT_PROVIDER_HELP,
):
    """--provider/-p, defaulting to $BATCHKIT_PROVIDER; when neither is given the library decides (kluster,
    or for a file in another format that format's own provider; what `default_help` says)."""
    option = click.option(
        "--provider",
        "-p",
        type=click.Choice(list(PROVIDERS), case_sensitive=False),
        envvar=PROVIDER_ENV,
        show_envvar=True,
        default=None,
        help=f"{help} [default: {default_help}]",
    )
    return option(f) if f is not None else option


def dialect_option(f=None, *, help: str = "The line format (default: detected from the first lines)."):
    """--dialect NAME: the format every line is read in."""
    option = click.option("--dialect", type=click.Choice(list(DIALECTS)), default=None, help=help)
    return option(f) if f is not None else option


def format_option(f=None, *, help: str = "text for people, json for programs, github for annotations."):
    """--format text|json|github, for commands that print findings."""
    option = click.option(
        "--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True, help=help
    )
    return option(f) if f is not None else option


def text_or_json(f=None, *, help: str = "text for people, json for programs."):
    """--format text|json, for commands that print a summary, and --json kept as a hidden alias."""

    def options(f):
        f = click.option("--json", "as_json", is_flag=True, hidden=True, help="Same as --format json.")(f)
        return click.option(
            "--format",
            "fmt",
            type=click.Choice(["text", "json"]),
            default="text",
            show_default=True,
            help=help,
        )(f)

    return options(f) if f is not None else options


def json_text(value) -> str:
    """`value` as indented JSON, as the --format json summaries print it (see report.json_text)."""
    return report.json_text(value)


def say(text: str = "", *, err: bool = False, file=None, nl: bool = True, painted: bool = False) -> None:
    """Print what a command says: every line through the one printable filter (`report.printable`), so
    nothing from outside (answers, ids, a server's words, file names) reaches a terminal raw. `painted`:
    `report.render` output, filtered as it was made and colored with our own sequences."""
    click.echo(text if painted else report.printable_lines(text), err=err, file=file, nl=nl)


class _PrintableOut:
    """A text stream that writes through the printable filter (see `say`)."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(report.printable_lines(text))

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._stream.flush()


def data_out(stream=None):
    """Where a command writes data (a table, `-o -`): standard output as it is when piped, through the
    printable filter on a terminal, where answers (data that may be hostile) would otherwise drive it."""
    stream = stream or sys.stdout
    return _PrintableOut(stream) if stream.isatty() else stream


def use_color(stream) -> bool:
    return "NO_COLOR" not in os.environ and stream.isatty()


class Bars:
    """Progress bars on standard error, one per key, drawn only when it is a terminal and not -q."""

    def __init__(self, quiet: bool = False):
        self.on = not quiet and sys.stderr.isatty()
        self.bars: dict = {}

    def get(self, key: str, **options):
        """The bar for `key` (made with tqdm `options` the first time), or None when bars are off."""
        if not self.on:
            return None
        bar = self.bars.get(key)
        if bar is None:
            from tqdm import tqdm

            options.setdefault("desc", report.printable(key))
            bar = self.bars[key] = tqdm(file=sys.stderr, dynamic_ncols=True, **options)
        return bar

    def advance(self, key: str, n: int, **options) -> None:
        bar = self.get(key, **options)
        if bar is not None:
            bar.update(n)

    def bytes_read(self, desc: str = "reading"):
        """A `jsonl.BytesRead` callback drawing bytes read of the total (again from the start for each
        file of several), or None when bars are off. Files under a megabyte show none."""
        if not self.on:
            return None

        def update(done: int, total: int | None) -> None:
            bar = self.get(desc, unit="B", unit_scale=True, unit_divisor=1024, leave=False)
            if total is not None and bar.total != total:
                bar.reset(total=total)
            if done > bar.n:  # a reader may tell a position it passed already (a peek, a re-read)
                bar.update(done - bar.n)

        return update

    def write(self, text: str) -> None:
        """A line of text that does not tear the bars."""
        if self.bars:
            from tqdm import tqdm

            tqdm.write(report.printable_lines(text), file=sys.stderr)
        else:
            say(text, err=True)

    def close(self, key: str | None = None) -> None:
        for name in [key] if key is not None else list(self.bars):
            bar = self.bars.pop(name, None)
            if bar is not None:
                bar.close()


on_empty_option = click.option(
    "--on-empty",
    multiple=True,
    metavar="[COL=]error|skip|keep",
    help="A row with an empty cell in a column the request uses: error (default), skip the row, or keep "
    "the cell as empty text. COL=CHOICE sets one column (repeatable); a bare choice sets every other.",
)


def subset_options(f):
    """--limit N / --sample N --seed S: a dry run on the first or a seeded random N requests."""
    f = click.option(
        "--seed", type=int, default=0, show_default=True, help="With --sample: which random requests."
    )(f)
    f = click.option(
        "--sample", type=click.IntRange(min=1), metavar="N", help="Only a random N requests (see --seed)."
    )(f)
    f = click.option("--limit", type=click.IntRange(min=1), metavar="N", help="Only the first N requests.")(f)
    return f


def subset_of(limit, sample, seed):
    from ..subset import Subset

    return Subset(limit, sample, seed)


def chosen_file(file, subset, quiet: bool):
    """The file to send: FILE itself, or the requests --limit / --sample chose, written beside it."""
    from ..subset import write_subset

    chosen = write_subset(file, subset)
    if chosen != file and not quiet:
        say(f"sending only the requests in {chosen} (chosen from {file})", err=True)
    return chosen
