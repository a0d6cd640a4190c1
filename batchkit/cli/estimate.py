"""`batchkit estimate`: a thin command over batchkit.tokens.estimate (tokens/estimates.py)."""

from __future__ import annotations

import click

from ..tokens.estimates import DEFAULT_MAX_OUTPUT
from . import on_dask
from .common import Bars, dialect_option, json_text, provider_option, say
from .on_dask import cluster_options, on_cluster


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(allow_dash=True, dir_okay=False))
@provider_option(help="Whose prices to use.")
@dialect_option
@click.option(
    "--prices",
    type=click.Path(dir_okay=False),
    help="A JSON prices file; its entries replace the shipped ones.",
)
@click.option(
    "--tokenizer",
    type=click.Path(dir_okay=False),
    help="A Hugging Face tokenizer.json for models outside the OpenAI families (else they are estimated).",
)
@click.option(
    "--default-max-output",
    type=click.IntRange(min=0),
    default=DEFAULT_MAX_OUTPUT,
    show_default=True,
    help="Output tokens assumed for a request that sets no max_tokens / max_completion_tokens / max_output_tokens.",
)
@click.option("--model", metavar="NAME",
              help="The batch's model, for lines that name none (Gemini, Bedrock), as submit takes it.")  # fmt: skip
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@cluster_options
def estimate(files, provider, dialect, prices, tokenizer, default_max_output, model, fmt, quiet, **cluster):
    """Count prompt tokens and the cost range of batch files, per file and model, before sending them.

    Counts are exact for OpenAI models; others are estimates, marked ~ (or "estimated": true in JSON),
    unless --tokenizer gives their tokenizer. Every format is read (Anthropic, Gemini, Vertex, Bedrock,
    custom-body lines through the OpenAI body that stands for them, an estimate). Exit 1 when a line
    cannot be read or a file holds no request."""
    from ..tokens import estimate as run
    from ..tokens import render_text

    cluster = on_cluster(cluster)
    bars = Bars(quiet or bool(cluster))
    try:
        if cluster:  # one worker task per file
            result = on_dask.estimate(
                files, cluster, provider, prices, tokenizer, default_max_output, dialect, model
            )
        else:
            progress = bars.bytes_read()
            result = run(files, provider, prices, tokenizer, default_max_output, progress, dialect, model)
    finally:
        bars.close()
    if fmt == "json":
        say(json_text(result.to_dict()))
    else:
        say(render_text(result), nl=False)
    raise SystemExit(0 if result.ok else 1)
