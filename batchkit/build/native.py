"""A build's requests in the line format of the provider they are for.

A table's rows become OpenAI requests (`Builder`); for a provider that takes lines of another format
(Anthropic, Gemini, Bedrock, Mistral's custom bodies, …) each is converted as `convert` converts a line,
so `build --provider anthropic` writes what `build` then `convert --to anthropic` would.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from ..convert import JobModel, convert_request
from ..findings import Report
from ..formats import OPENAI, Dialect, get_dialect
from ..providers import Provider

BUILD_APART = "build each model's rows to a file of its own"


def line_format(provider: Provider) -> Dialect:
    """The format of the lines a build writes for `provider`: OpenAI's where it takes them, else its own."""
    return OPENAI if provider.takes(OPENAI.name) else get_dialect(provider.dialect)


def in_line_format(
    numbered: Iterable[tuple[int, dict]],
    provider: Provider,
    refused: Report,
    first_model: tuple[str, int] | None = None,
    drop_unsupported: bool = False,
) -> Iterator[tuple[int, dict]]:
    """The (row, request) pairs as lines of the provider's format (`line_format`); a request that cannot
    be written so (or that asks for another model than the first where the lines name none) is left
    out, counted in `refused` with the findings that say why. `first_model`: (model, row) of the table's
    first request, when these rows are a later part of it (a Dask partition). `drop_unsupported` leaves
    out what the format cannot express (a warning each), as `convert` does."""
    dialect = line_format(provider)
    if dialect is OPENAI:
        yield from numbered
        return
    job_model = JobModel(dialect, first_model, BUILD_APART, "row")
    for row, request in numbered:
        converted = convert_request(
            request, dialect, source=OPENAI, line=row, provider=provider, drop_unsupported=drop_unsupported
        )
        for finding in converted.findings:
            refused.add(finding)
        line = converted.line
        if line is not None and (refusal := job_model.refusal(OPENAI.read(request).model, line, row)):
            refused.add(refusal)
            line = None
        if line is None:
            refused.summary.requests += 1
        else:
            yield row, line
