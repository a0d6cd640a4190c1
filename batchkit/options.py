"""The options a command reads and checks under — limits, provider, format, how many findings to keep — built
once (the CLI from its flags, the Python API from keywords) and passed down, so the environment is read
once and a size is read the same way everywhere ("100MB" or an int)."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

from .errors import UsageError
from .formats import Dialect, detect_stream, get_dialect
from .lines import MAX_LINE_BYTES
from .providers import PROVIDER_ENV, Provider, get_provider, parse_size


@dataclass(frozen=True)
class Options:
    """`provider` is the provider's row with the limits in force (`overrides`: those given, which replace
    the row's); `dialect` the format lines must be in (None: each file's own, found from its first lines,
    else the provider's). `chosen`: the provider was named (argument or $BATCHKIT_PROVIDER) rather than the
    default, which gives way to a file's own format (`for_lines`). `model`: the job's model, for the formats
    whose lines do not name one (Bedrock: which model family's body rules apply)."""

    provider: Provider
    dialect: Dialect | None = None
    max_findings: int | None = None
    strict: bool = False
    chosen: bool = True
    overrides: tuple[int | None, int | None] = (None, None)
    model: str | None = None

    @classmethod
    def of(
        cls,
        provider: str | Provider | Options | None = None,
        *,
        dialect: str | Dialect | None = None,
        max_requests: int | None = None,
        max_bytes: int | str | None = None,
        max_findings: int | None = None,
        strict: bool = False,
        model: str | None = None,
    ) -> Options:
        """Options from a provider's name (or row; None: $BATCHKIT_PROVIDER, else kluster) and keywords;
        given Options, the limits given override theirs."""
        if isinstance(provider, Options):
            given = provider.with_limits(max_requests, max_bytes)
            return given if model is None else replace(given, model=model)
        overrides = (max_requests, parse_size(max_bytes))
        chosen = provider is not None or bool(os.environ.get(PROVIDER_ENV))
        row = get_provider(provider).with_limits(*overrides)
        fmt = get_dialect(dialect) if dialect is not None else None
        return cls(row, fmt, max_findings, strict, chosen, overrides, model)

    def with_limits(self, max_requests: int | None = None, max_bytes: int | str | None = None) -> Options:
        """These options with the given limits overriding the provider's (None keeps them)."""
        if max_requests is None and max_bytes is None:
            return self
        size = parse_size(max_bytes)
        overrides = (max_requests or self.overrides[0], size or self.overrides[1])
        return replace(self, provider=self.provider.with_limits(max_requests, size), overrides=overrides)

    @property
    def max_line(self) -> int:
        """The longest line read: the provider's file limit, at most MAX_LINE_BYTES."""
        return min(self.provider.max_bytes or MAX_LINE_BYTES, MAX_LINE_BYTES)

    def dialect_for(self, found: Dialect | None) -> Dialect:
        """The format a file's lines are read as: the one named, else the file's own (`found`), else the
        provider's, else OpenAI's."""
        if self.dialect is not None:
            return self.dialect
        if found is not None:
            return found
        return get_dialect(self.provider.dialect or "openai")

    def takes(self, dialect: Dialect) -> bool:
        accepted = self.provider.dialects
        return not accepted or dialect.name in accepted

    def for_lines(self, found: Dialect | None) -> Options:
        """These options settled for lines found in `found` (None: not known): the format they are read in
        and, when the provider was not chosen and does not take it, that format's home provider instead
        (with the same limits given)."""
        dialect = self.dialect_for(found)
        options = replace(self, dialect=dialect)
        if not self.chosen and not self.takes(dialect):
            home = get_provider(dialect.home).with_limits(*self.overrides)
            options = replace(options, provider=home, chosen=True)
        return options

    @classmethod
    def for_copies(cls, stream, provider: str | Provider | None = None, **keywords) -> Options:
        """Options for the lines of `stream`, to be copied as they are (split, retry): their own format
        (from the first lines; the stream is put back), under a provider that takes it (`for_lines`); a
        chosen provider that does not is a UsageError."""
        options = cls.of(provider, **keywords)
        options = options.for_lines(detect_stream(stream, options.max_line))
        if not options.takes(options.dialect):
            accepted = " or ".join(options.provider.dialects)
            raise UsageError(
                f"provider {options.provider.name} takes {accepted} lines, not {options.dialect.name} "
                "(`batchkit convert` writes them in its format)"
            )
        return options
