"""Token counting, behind one small interface that hides the library choice.

OpenAI model families are counted exactly with the encoding tiktoken's own model table gives them, using
`bpe-openai` (bindings of GitHub's `bpe` crate), which ships cl100k_base and o200k_base inside its wheel:
tiktoken downloads its vocabularies on first use and fails offline. Its Rust counter is used directly —
its tiktoken-shaped `Encoding` wrapper copies both vocabularies into Python objects (+140 MB) and builds a
token list only to take its length. A Hugging Face `tokenizer.json` counts open-weight models exactly when
the user gives one; anything else is counted with o200k_base and labelled an estimate.
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import InputError, UsageError
from ..words import Option, Text

# The model → encoding table of tiktoken (tiktoken/model.py), as data. Exact names first, then the
# longest matching prefix (dated snapshots, fine-tunes, Azure deployment names).
MODEL_ENCODINGS = {
    "o1": "o200k_base",
    "o3": "o200k_base",
    "o4-mini": "o200k_base",
    "gpt-5": "o200k_base",
    "gpt-4.1": "o200k_base",
    "gpt-4o": "o200k_base",
    "gpt-4": "cl100k_base",
    "gpt-3.5-turbo": "cl100k_base",
    "gpt-3.5": "cl100k_base",
    "gpt-35-turbo": "cl100k_base",
    "davinci-002": "cl100k_base",
    "babbage-002": "cl100k_base",
    "text-embedding-ada-002": "cl100k_base",
    "text-embedding-3-small": "cl100k_base",
    "text-embedding-3-large": "cl100k_base",
}
PREFIX_ENCODINGS = {
    "o1-": "o200k_base",
    "o3-": "o200k_base",
    "o4-mini-": "o200k_base",
    "gpt-5": "o200k_base",
    "gpt-4.5-": "o200k_base",
    "gpt-4.1-": "o200k_base",
    "chatgpt-4o-": "o200k_base",
    "gpt-4o-": "o200k_base",
    "gpt-4-": "cl100k_base",
    "gpt-3.5-turbo-": "cl100k_base",
    "gpt-35-turbo-": "cl100k_base",
    "ft:gpt-4o": "o200k_base",
    "ft:gpt-4": "cl100k_base",
    "ft:gpt-3.5-turbo": "cl100k_base",
    "ft:davinci-002": "cl100k_base",
    "ft:babbage-002": "cl100k_base",
}
PROXY_ENCODING = "o200k_base"  # what counts a model no table knows, labelled an estimate
TEXT_LIMIT = 1_000_000  # characters the counter takes at once; longer texts are counted in pieces


def encoding_for_model(model: str) -> str | None:
    """The OpenAI encoding of a model name (as tiktoken maps it), or None for a model of another family."""
    name = model.strip().lower()
    if name in MODEL_ENCODINGS:
        return MODEL_ENCODINGS[name]
    prefixes = [p for p in PREFIX_ENCODINGS if name.startswith(p)]
    return PREFIX_ENCODINGS[max(prefixes, key=len)] if prefixes else None


@dataclass(frozen=True)
class Counter:
    """Counts tokens of many texts at once. `name` says which vocabulary; `estimated` that it is not the
    model's own."""

    name: str
    estimated: bool
    _count: object  # texts → list of counts

    def count_batch(self, texts: Sequence[str]) -> list[int]:
        return self._count(texts)

    def count(self, text: str) -> int:
        return self._count([text])[0]


@functools.cache
def _bpe_counter(encoding: str):
    # The binding's counter holds the GIL, so threads only add contention (measured in bench_estimate):
    # one thread walks the batch.
    with warnings.catch_warnings():
        # Its import reads its own data with a deprecated importlib call; nothing a user can act on.
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="bpe_openai")
        from bpe_openai import _bindings

    tokenizer = _bindings.tokenizer_for_encoding(encoding)

    def count(texts: Sequence[str]) -> list[int]:
        return [_count_long(tokenizer.count, _sane(t)) for t in texts]

    return count


def _sane(text: str) -> str:
    """Lone surrogates (legal in JSON, not in UTF-8) become U+FFFD, as tiktoken does."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _count_long(count, text: str) -> int:
    if len(text) <= TEXT_LIMIT:
        return count(text)
    # Cut at whitespace so a piece boundary falls where the pre-tokenizer would split anyway.
    total, start = 0, 0
    while start < len(text):
        end = min(start + TEXT_LIMIT, len(text))
        if end < len(text):
            space = text.rfind(" ", start + 1, end)
            end = space if space > start else end
        total += count(text[start:end])
        start = end
    return total


@functools.cache
def _hf_counter(path: str):
    try:
        from tokenizers import Tokenizer
    except ImportError:
        raise UsageError(
            Text(
                Option("tokenizer"),
                " needs the Hugging Face tokenizers library: pip install 'llm-batchkit[hf]'",
            )
        ) from None
    try:
        tokenizer = Tokenizer.from_file(path)
    except Exception as e:  # the library raises a bare Exception for a file it cannot read
        raise InputError(f"{path}: not a tokenizer.json file the tokenizers library can read: {e}") from None

    def count(texts: Sequence[str]) -> list[int]:
        # encode_batch runs on the library's own thread pool, outside the GIL.
        return [len(e.ids) for e in tokenizer.encode_batch(list(texts), add_special_tokens=False)]

    return count


def counter_for(model: str, tokenizer: str | os.PathLike | None = None) -> Counter:
    """The counter for a model: the OpenAI encoding of the model's family, else the user's tokenizer.json
    (for open-weight models), else o200k_base as an estimate."""
    encoding = encoding_for_model(model)
    if encoding is not None:
        return Counter(encoding, False, _bpe_counter(encoding))
    if tokenizer is not None:
        path = os.fspath(tokenizer)
        if not os.path.isfile(path):
            raise InputError(f"{path}: no such tokenizer file")
        return Counter(os.path.basename(path), False, _hf_counter(path))
    return Counter(PROXY_ENCODING, True, _bpe_counter(PROXY_ENCODING))
