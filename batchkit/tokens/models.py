"""The models a provider is known to serve — the price data's, and a server's own list when it was asked
(`batchkit models`) — and "did you mean" for a model name that is none of them.

Known is loose on purpose: a dated or versioned snapshot of a known model (`gpt-4o-mini-2024-07-18`,
`claude-haiku-4-5-20251001`) is known, since the data names the alias. The price data does not list
every model a provider serves, so a name that is merely unknown says nothing; one a letter or two away
from a known name is most likely a typo (`close_only`).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

from ..findings import WARNING, Finding
from .prices import known_models

# a dated or versioned snapshot's tail: -2024-07-18, -20241022, -0125, -001, -v1:0, -latest, -preview
SNAPSHOT = re.compile(r"(?:-(?:\d{4}-\d{2}-\d{2}|\d{8}|\d{4}|\d{3}|v\d+(?::\d+)?|latest|preview))+$")
CLOSE = 0.85  # difflib ratio from which a known name is offered as "did you mean"


def model_family(model: str) -> str:
    """A model name without its snapshot tail, lowercased: what an alias and its snapshots share."""
    return SNAPSHOT.sub("", model.strip().lower().removeprefix("models/"))


def closest_model(model: str, provider: str, served: Iterable[str] = ()) -> tuple[bool, str | None]:
    """(whether `model` is one `provider` is known to serve, the closest known name when it is not and
    one is close). Nothing is known of a provider without price data and without `served`."""
    known = known_models(provider) | set(served)
    families = {model_family(m): m for m in known}
    if model in known or model_family(model) in families:
        return True, None
    close = difflib.get_close_matches(model_family(model), list(families), n=1, cutoff=CLOSE)
    return False, (families[close[0]] if close else None)


def unknown_model_findings(
    models: Iterable[str], provider: str, served: Iterable[str] = (), close_only: bool = True
) -> list[Finding]:
    """An `unknown-model` warning for each of `models` that `provider` is not known to serve: with the
    closest known name; with `close_only` (the default), only for those that have one."""
    served = list(served)
    if not known_models(provider) and not served:
        return []  # nothing known: nothing to say
    findings = []
    for model in sorted(set(models)):
        known, closest = closest_model(model, provider, served)
        if known or (close_only and closest is None):
            continue
        hint = f"; did you mean `{closest}`?" if closest else f"; name a model {provider} serves"
        findings.append(
            Finding(
                "unknown-model",
                f"model {model!r} is not one {provider} is known to serve (its published prices"
                f"{' and its model list' if served else ''}){hint}",
                None,
                "/body/model",
                severity=WARNING,
            )
        )
    return findings


def advise_models(report, served: Iterable[str] = (), close_only: bool = True) -> None:
    """Add `unknown_model_findings` for the models of a validation `Report` (its provider's), as
    warnings counted in its summary."""
    for finding in unknown_model_findings(report.summary.models, report.provider, served, close_only):
        report.add(finding)
    report.sort()
