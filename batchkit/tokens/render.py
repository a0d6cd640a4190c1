"""The text form of an Estimate, for people: `~` marks a count that is an estimate."""

from __future__ import annotations

import math

from ..report import printable
from .lengths import bar
from .models import closest_model

SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£"}
NOT_COUNTED = {
    "image": "image(s): a URL (size unknown) or a model without a documented tile rule",
    "audio": "audio part(s)",
    "file": "file part(s)",
    "endpoint": "request(s) to an endpoint whose prompt is not counted",
}


SHOWN = 200  # characters of a name from a file shown at most


def shown(text: str) -> str:
    """A name read from a file, safe for a terminal: bounded, control characters escaped."""
    return printable(text if len(text) <= SHOWN else text[:SHOWN] + "…")


def money(amount: float, currency: str) -> str:
    symbol = SYMBOLS.get(currency)
    # Cents for real money; two significant digits for the fractions of a cent small files cost.
    digits = 2 if amount >= 1 or amount == 0 else max(2, 1 - math.floor(math.log10(amount)))
    return f"{symbol}{amount:,.{digits}f}" if symbol else f"{amount:,.{digits}f} {shown(currency)}"


def tokens(n: int, estimated: bool) -> str:
    return f"{'~' if estimated else ''}{n:,}"


def _lengths(lengths: dict | None, estimated: bool) -> list[str]:
    if lengths is None:
        return []
    mark = "~" if estimated else ""
    lines = [
        f"    prompt lengths   min {mark}{lengths['min']:,} · median {mark}{lengths['median']:,} · "
        f"p95 {mark}{lengths['p95']:,} · max {mark}{lengths['max']:,}"
    ]
    most = max(b["requests"] for b in lengths["histogram"])
    width = len(f"{lengths['max']:,}")
    for b in lengths["histogram"]:
        span = f"{b['from']:>{width},}–{b['to']:<{width},}"
        lines.append(f"      {span} {bar(b['requests'], most):<25} {b['requests']:,}")
    return lines


def _cost(group: dict, provider: str, priced: list[str]) -> str:
    cost, price = group["cost"], group["price"]
    if cost is None and price is not None:  # a price without an output price, for requests that write
        return (
            f"    cost             the price of {shown(group['model'])} at {provider} has no output price, and "
            f"its requests may write {group['output_ceiling']:,} tokens; give one with --prices FILE"
        )
    if cost is None:
        _known, closest = closest_model(group["model"], provider)
        if closest is not None:
            advice = f"; did you mean {shown(closest)}?"
        elif provider not in priced:
            others = ", ".join(p for p in priced if p != provider)
            advice = f" (prices are known for: {others}; name one with --provider)"
        else:
            advice = ""
        return (
            f"    cost             no price for {shown(group['model'])} at {provider}{advice}; "
            "add one with --prices FILE"
        )
    mark = "~" if cost["estimated"] else ""
    return (
        f"    cost (batch)     {mark}{money(cost['low'], cost['currency'])} … "
        f"{mark}{money(cost['high'], cost['currency'])}  "
        f"(in {price['input']:g} / out {price['output'] or 0:g} per 1M, "
        f"-{price['batch_discount']:.0%} batch; {shown(price['date'])}, {shown(price['source'])})"
    )


def _group(group: dict, provider: str, priced: list[str], default_max: int) -> list[str]:
    est = group["estimated"]
    how = "estimated with " if group["estimated"] else ""
    lines = [
        f"  {shown(group['model'])}  {group['requests']:,} request(s), {shown(', '.join(group['endpoints']))}  "
        f"[{how}{group['tokenizer']}]",
        f"    prompt tokens    {tokens(group['prompt_tokens'], est)}",
        f"    output ceiling   {group['output_ceiling']:,}"
        + (
            f"  ({group['requests_without_max']:,} request(s) with no max counted at {default_max:,})"
            if group["requests_without_max"]
            else ""
        ),
        _cost(group, provider, priced),
    ]
    lines += _lengths(group["prompt_lengths"], est)
    for kind, n in group["not_counted"].items():
        lines.append(f"    not counted      {n:,} {NOT_COUNTED.get(kind, kind)}")
    return lines


def render_text(estimate) -> str:
    doc = estimate.to_dict()
    priced = estimate.priced_providers
    out = []
    for f in doc["files"]:
        out.append(f"{shown(f['path'])}: {f['requests']:,} request(s), provider {f['provider']}")
        for finding in f["findings"]:
            out.append(f"  line {finding['line']}: {finding['code']}: {finding['message']}")
        if f["unreadable_lines"] > len(f["findings"]):
            out.append(f"  … {f['unreadable_lines'] - len(f['findings']):,} more unreadable line(s)")
        for group in f["models"]:
            out += _group(group, f["provider"], priced, doc["default_max_output"])
    totals = doc["totals"]
    if len(doc["files"]) > 1 or sum(len(f["models"]) for f in doc["files"]) > 1:
        est = totals["estimated"]
        mark = "~" if est else ""
        costs = "; ".join(
            f"{mark}{money(c['low'], cur)} … {mark}{money(c['high'], cur)}"
            for cur, c in totals["cost"].items()
        )
        out.append(
            f"total: {totals['requests']:,} request(s), {tokens(totals['prompt_tokens'], est)} prompt tokens, "
            f"output ceiling {totals['output_ceiling']:,}"
            + (f", cost {costs}" if costs else "")
            + (
                f"; no price for {shown(', '.join(totals['unpriced_models']))}"
                if totals["unpriced_models"]
                else ""
            )
        )
    return "\n".join(out) + "\n"
