"""Prices as data: prices.json, shipped in the package, overridden entry by entry by the user's file.

A model without an entry has no price. It is never priced at zero: a cost is only ever computed from an
entry that names the price.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import orjson

from ..errors import InputError

PER = 1_000_000  # prices are per million tokens


@dataclass(frozen=True)
class Price:
    provider: str
    model: str
    input: float
    output: float | None  # None: the model writes no tokens (embeddings)
    batch_discount: float
    currency: str
    date: str
    source: str

    def cost(self, prompt_tokens: int, output_tokens: int) -> float:
        """The batch cost of these tokens, discount applied."""
        full = prompt_tokens * self.input + output_tokens * (self.output or 0.0)
        return full / PER * (1.0 - self.batch_discount)

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _number(entry: dict, key: str, where: str, optional: bool = False) -> float | None:
    value = entry.get(key)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise InputError(f"{where}: `{key}` must be a number ≥ 0, not {orjson.dumps(value).decode()[:40]}")
    return float(value)


def _price(entry, where: str) -> Price:
    if not isinstance(entry, dict):
        raise InputError(f"{where}: each price must be an object")
    texts = {}
    for key in ("provider", "model", "currency", "date", "source"):
        if not isinstance(entry.get(key), str) or not entry[key]:
            raise InputError(f"{where}: `{key}` must be a non-empty string")
        texts[key] = entry[key]
    discount = _number(entry, "batch_discount", where)
    if discount > 1:
        raise InputError(f"{where}: `batch_discount` is a share between 0 and 1, not {discount}")
    return Price(
        provider=texts["provider"].lower(),
        model=texts["model"],
        input=_number(entry, "input", where),
        output=_number(entry, "output", where, optional=True),
        batch_discount=discount,
        currency=texts["currency"],
        date=texts["date"],
        source=texts["source"],
    )


def _read(data: bytes, name: str) -> list[Price]:
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise InputError(f"{name}: not valid JSON: {e}") from None
    entries = doc.get("prices") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise InputError(f'{name}: expected an object with a "prices" list')
    return [_price(entry, f"{name}: prices[{i}]") for i, entry in enumerate(entries)]


def load_prices(path: str | os.PathLike | None = None) -> dict[tuple[str, str], Price]:
    """(provider, model) → Price: the shipped table, with the entries of `path` replacing or adding."""
    shipped = resources.files(__package__).joinpath("prices.json").read_bytes()
    table = {(p.provider, p.model): p for p in _read(shipped, "prices.json")}
    if path is not None:
        try:
            data = Path(path).read_bytes()
        except OSError as e:
            raise InputError(f"{path}: cannot read prices: {e.strerror}") from None
        table.update({(p.provider, p.model): p for p in _read(data, os.fspath(path))})
    return table


def known_models(provider: str | None = None, path: str | os.PathLike | None = None) -> set[str]:
    """The models the price data names (for `provider`, or any): the models batchkit knows a provider
    serves. Not every model a provider serves (the data lists those with a price)."""
    return {model for (who, model) in load_prices(path) if provider is None or who == provider}
