"""Where a `map` sends its rows: one `MapTarget` per provider and model, each with its own address, key
variable and parameter overrides. `PROVIDER:MODEL` is how the command line names one."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ..errors import UsageError
from ..providers import get_provider
from ..words import Meta, Option, Text, Words


@dataclass(frozen=True)
class MapTarget:
    """A provider and model the rows go to. `params` are set on top of the call's own (`temperature`, …);
    `base_url` and `api_key_env` override the call's; `label` names its columns (default: PROVIDER:MODEL,
    or MODEL when no provider is named)."""

    model: str
    provider: str | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    params: Mapping = field(default_factory=dict)
    name: str | None = None

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        return f"{self.provider}:{self.model}" if self.provider else self.model


def parse_target(text: str) -> MapTarget:
    """`PROVIDER:MODEL` → a MapTarget (the model may hold more colons: `openai:ft:gpt-4o-mini:org`)."""
    provider, sep, model = text.partition(":")
    if not sep or not provider or not model:
        raise UsageError(f"target {text!r} is not PROVIDER:MODEL (e.g. openai:gpt-4o-mini)")
    return MapTarget(model, get_provider(provider).name)


def targets_of(
    targets: Iterable[MapTarget | Mapping | str] | None,
    model: str | None,
    provider: str | None,
    base_url: str | None,
    api_key_env: str | None,
) -> list[MapTarget]:
    """The targets of a call: those given (MapTargets, dicts of MapTarget's fields, or PROVIDER:MODEL texts;
    the call's provider, address and key variable fill what each leaves out), else the one `model` names."""
    if targets is None:
        if not model:
            raise UsageError(Text("name the model (", Option("model", Meta("NAME")), ") or the targets (",
                                  Words("targets=[...]", "--target PROVIDER:MODEL"), ")"))  # fmt: skip
        return [MapTarget(model, provider, base_url, api_key_env)]
    if model:
        raise UsageError(
            Text(
                "give ", Option("model"), " or ", Option("targets"), ", not both: each target names its model"
            )
        )
    chosen = [_target(t) for t in targets]
    if not chosen:
        raise UsageError("targets=[] names no target")
    chosen = [
        MapTarget(
            t.model,
            t.provider or provider,
            t.base_url or base_url,
            t.api_key_env or api_key_env,
            dict(t.params),
            t.name,
        )  # fmt: skip
        for t in chosen
    ]
    labels = [t.label for t in chosen]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise UsageError(f"two targets are named {', '.join(repeated)}: give each its own name= (label)")
    return chosen


def _target(spec: MapTarget | Mapping | str) -> MapTarget:
    if isinstance(spec, MapTarget):
        return spec
    if isinstance(spec, str):
        return parse_target(spec)
    if isinstance(spec, Mapping):
        unknown = set(spec) - set(MapTarget.__dataclass_fields__)
        if unknown:
            fields = ", ".join(MapTarget.__dataclass_fields__)
            raise UsageError(f"a target takes {fields}; not {', '.join(sorted(unknown))}")
        if not spec.get("model"):
            raise UsageError(f"target {dict(spec)!r} names no model")
        return MapTarget(**spec)
    raise UsageError(f"a target is PROVIDER:MODEL, a dict or a MapTarget, not {type(spec).__name__}")
