"""`estimate`: per file and per model, the requests, prompt tokens, output-token ceiling, cost range and
the distribution of prompt lengths, reading each file once as a stream."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from ..errors import UsageError
from ..findings import Finding
from ..formats import Dialect, Request, detect_stream, read_requests
from ..lines import BytesRead, open_binary, source_name
from ..options import Options
from ..validate.memory import requests_stream
from .bodies import Prompt, prompt_of
from .count import Counter, counter_for
from .lengths import Lengths
from .prices import Price, load_prices

DEFAULT_MAX_OUTPUT = 4096  # the output cap assumed for a request that states none (--default-max-output)
CHUNK = 4096  # requests parsed before their texts are counted in one batch per model
KEPT_FINDINGS = 100  # unreadable lines listed per file; the rest are counted
NO_MODEL = "(no model)"
MAX_MODELS = 1000  # groups per file; requests of further models share one, so a hostile file stays bounded
MORE_MODELS = "(more models)"


@dataclass
class ModelEstimate:
    model: str
    counter: Counter
    price: Price | None
    requests: int = 0
    prompt_tokens: int = 0
    estimated: bool = False
    output_ceiling: int = 0
    without_max: int = 0  # requests that state no output cap, counted at the default
    endpoints: set[str] = field(default_factory=set)
    not_counted: dict[str, int] = field(default_factory=dict)
    lengths: Lengths = field(default_factory=Lengths)

    def add(self, url: str, prompt: Prompt, tokens: int, default_max_output: int) -> None:
        self.requests += 1
        self.prompt_tokens += tokens
        self.lengths.add(tokens)
        self.estimated |= prompt.estimated or self.counter.estimated
        self.endpoints.add(url)
        if prompt.max_output is None:
            self.without_max += 1
            self.output_ceiling += default_max_output
        else:
            self.output_ceiling += prompt.max_output
        for kind, n in prompt.not_counted.items():
            self.not_counted[kind] = self.not_counted.get(kind, 0) + n

    def cost(self) -> dict | None:
        """The cost's bounds; None when unpriced: no price, or one without an output price for requests
        that may write output (an embedding's price has none; a chat model's output is never free)."""
        if self.price is None or (self.price.output is None and self.output_ceiling):
            return None
        return {
            "low": self.price.cost(self.prompt_tokens, 0),
            "high": self.price.cost(self.prompt_tokens, self.output_ceiling),
            "currency": self.price.currency,
            "estimated": self.estimated,
        }

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "endpoints": sorted(self.endpoints),
            "requests": self.requests,
            "prompt_tokens": self.prompt_tokens,
            "estimated": self.estimated,
            "tokenizer": self.counter.name,
            "output_ceiling": self.output_ceiling,
            "requests_without_max": self.without_max,
            "not_counted": dict(sorted(self.not_counted.items())),
            "price": self.price.to_dict() if self.price else None,
            "cost": self.cost(),
            "prompt_lengths": self.lengths.to_dict(),
        }


@dataclass
class FileEstimate:
    path: str
    provider: str  # whose prices: the one named, else the file's format's own (as validate reads it)
    models: dict[str, ModelEstimate] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    unreadable: int = 0

    def note(self, finding: Finding) -> None:
        """A finding on reading the file: an error is a line unread; a warning (a blank line, a byte-order
        mark) is kept to show, every request still read."""
        self.unreadable += finding.is_error
        if len(self.findings) < KEPT_FINDINGS:
            self.findings.append(finding)

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "provider": self.provider,
            "requests": sum(m.requests for m in self.models.values()),
            "unreadable_lines": self.unreadable,
            "findings": [f.to_dict() for f in self.findings],
            "models": [m.to_dict() for m in self.models.values()],
        }


@dataclass
class Estimate:
    provider: str  # the files' (`run_provider`)
    default_max_output: int
    files: list[FileEstimate]
    priced_providers: list[str]

    @property
    def ok(self) -> bool:
        """Every line of every file read, and every file holds a request."""
        return all(not f.unreadable and f.models for f in self.files)

    def totals(self) -> dict:
        groups = [m for f in self.files for m in f.models.values()]
        costs: dict[str, dict] = {}
        for m in groups:
            cost = m.cost()
            if cost is not None:
                total = costs.setdefault(cost["currency"], {"low": 0.0, "high": 0.0})
                total["low"] += cost["low"]
                total["high"] += cost["high"]
        return {
            "requests": sum(m.requests for m in groups),
            "prompt_tokens": sum(m.prompt_tokens for m in groups),
            "output_ceiling": sum(m.output_ceiling for m in groups),
            "estimated": any(m.estimated for m in groups),
            "cost": costs,
            "unpriced_models": sorted({m.model for m in groups if m.cost() is None}),
        }

    def to_dict(self) -> dict:
        return {
            "provider": self.provider,
            "default_max_output": self.default_max_output,
            "files": [f.to_dict() for f in self.files],
            "totals": self.totals(),
        }


def request_tokens(request: Request, tokenizer: str | os.PathLike | None = None) -> int:
    """The prompt tokens of one request (of any format), counted as `estimate` counts them."""
    prompt = prompt_of(request)
    return prompt.fixed + sum(counter_for(prompt.model, tokenizer).count_batch(prompt.texts))


class _Pricer:
    """Per model, once: its counter and its price at this provider."""

    def __init__(self, provider: str, prices: dict, tokenizer):
        self.provider, self.prices, self.tokenizer = provider, prices, tokenizer

    def group(self, model: str) -> ModelEstimate:
        return ModelEstimate(
            model, counter_for(model, self.tokenizer), self.prices.get((self.provider, model))
        )


def _count_chunk(chunk: dict[str, list], result: FileEstimate, pricer: _Pricer, default_max: int) -> None:
    for model, items in chunk.items():
        group = result.models.get(model) or result.models.setdefault(model, pricer.group(model))
        texts = [text for _endpoint, prompt in items for text in prompt.texts]
        counts = group.counter.count_batch(texts)
        at = 0
        for endpoint, prompt in items:
            n = len(prompt.texts)
            group.add(endpoint, prompt, prompt.fixed + sum(counts[at : at + n]), default_max)
            at += n
    chunk.clear()


def estimate_file(
    source,
    options: Options,
    pricer_for: Callable[[str], _Pricer],
    default_max_output: int = DEFAULT_MAX_OUTPUT,
    progress: BytesRead | None = None,
    job_model: str | None = None,
) -> FileEstimate:
    """One file's estimate, priced by `pricer_for(provider)` at the provider its lines settle `options`
    on (`Options.for_lines`: the one named, else the file's format's own); its lines are read in the
    format `options` names, else each in its own. `job_model`: the batch's model, for lines that name none
    (Gemini's, Bedrock's), and for every line where the provider takes the model on the batch (Gemini,
    Mistral, Vertex, Bedrock: the batch's model answers each request, whatever its line names)."""
    chunk: dict[str, list] = {}
    pending = 0
    with open_binary(source, progress) as stream:
        found = detect_stream(stream, options.max_line) if options.dialect is None else None
        row = options.for_lines(found).provider
        pricer = pricer_for(row.name)
        result = FileEstimate(source_name(source), pricer.provider)
        on_batch = job_model if row.model_on_batch else None
        for request in read_requests(stream, result.note, dialect=options.dialect):
            model = on_batch or request.model or job_model or NO_MODEL
            if model not in result.models and model not in chunk:
                if len(result.models.keys() | chunk.keys()) >= MAX_MODELS:
                    model = MORE_MODELS
            chunk.setdefault(model, []).append((request.endpoint or "", prompt_of(request)))
            pending += 1
            if pending >= CHUNK:
                _count_chunk(chunk, result, pricer, default_max_output)
                pending = 0
        _count_chunk(chunk, result, pricer, default_max_output)
    return result


def estimate(
    paths: Iterable[str | os.PathLike] | str | os.PathLike,
    provider: str | None = None,
    prices: str | os.PathLike | None = None,
    tokenizer: str | os.PathLike | None = None,
    default_max_output: int = DEFAULT_MAX_OUTPUT,
    progress: BytesRead | None = None,
    dialect: str | Dialect | None = None,
    model: str | None = None,
) -> Estimate:
    """Tokens and cost of batch files, per file and per model, before anything is sent.

    `provider`: whose prices (None: $BATCHKIT_PROVIDER, else each file's format's own provider, as
    `validate` takes it: kluster for OpenAI lines). `prices`: a JSON file whose entries replace or add to
    the shipped prices; `tokenizer`: a Hugging Face tokenizer.json for models outside the OpenAI families
    (else those are estimated with o200k_base). `progress` hears how much of each file was read, one file
    after another. Lines of every format are counted (a format other than OpenAI's through the OpenAI body
    that stands for it, an estimate); `dialect` names the one format every line must be in; `model`, the
    batch's model, prices the lines that name none (Gemini's and Bedrock's: the batch does, as `submit
    --model` gives it). Requests held in memory (an iterable of request dicts, or a DataFrame of request
    lines, as `validate_requests` takes them) are estimated as the file `<requests>` they would make."""
    paths = _sources(paths)
    options = Options.of(provider, dialect=dialect)
    table = load_prices(prices)
    pricers: dict[str, _Pricer] = {}

    def pricer_for(name: str) -> _Pricer:
        return pricers.get(name) or pricers.setdefault(name, _Pricer(name, table, tokenizer))

    files = [estimate_file(p, options, pricer_for, default_max_output, progress, model) for p in paths]
    return Estimate(run_provider(files, options), default_max_output, files, sorted({p for p, _m in table}))


def _sources(given) -> list:
    """What `estimate` reads: the files named, or one stream of the requests given in memory."""
    if isinstance(given, str | os.PathLike):
        return [given]
    items = given if hasattr(given, "columns") else list(given)  # a DataFrame is requests
    if hasattr(items, "columns") or any(isinstance(item, Mapping) for item in items):
        return [requests_stream(items)]
    for item in items:
        if not isinstance(item, str | os.PathLike) and not hasattr(item, "read"):
            raise UsageError(f"estimate takes batch files or request dicts, not {type(item).__name__}")
    return items


def run_provider(files: list[FileEstimate], options: Options) -> str:
    """The provider a run of files is priced at: the one named, or the files' own when they share one
    (each file says its own)."""
    own = {f.provider for f in files}
    return own.pop() if len(own) == 1 and not options.chosen else options.provider.name
