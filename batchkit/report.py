"""Renders reports for people (text), programs (json) and CI (GitHub workflow annotations)."""

from __future__ import annotations

import orjson

from .findings import ERROR, Report

FORMATS = ("text", "json", "github")
_COLORS = {ERROR: "31", "warning": "33", "ok": "32", "bold": "1", "dim": "2"}


def render(reports: list[Report], fmt: str = "text", *, color: bool = False, quiet: bool = False) -> str:
    if fmt == "json":
        data = [r.to_dict() for r in reports]
        return orjson.dumps(data[0] if len(data) == 1 else data, option=orjson.OPT_INDENT_2).decode()
    if fmt == "github":
        return "\n".join(line for r in reports for line in _github(r, quiet))
    return "\n".join(line for r in reports for line in _text(r, color, quiet))


def _paint(text: str, style: str, color: bool) -> str:
    return f"\x1b[{_COLORS[style]}m{text}\x1b[0m" if color else text


def _text(report: Report, color: bool, quiet: bool):
    for f in report.findings:
        if quiet and f.severity != ERROR:
            continue
        where = f"{report.file}:{f.line}" if f.line is not None else report.file
        head = _paint(f"{f.severity}[{f.code}]", f.severity, color)
        path = f" {f.path}" if f.path else ""
        yield f"{where}: {head}{path}: {f.message}"
    if quiet:
        return
    s = report.summary
    hidden = s.errors + s.warnings - len(report.findings)
    if hidden:
        yield _paint(
            f"… {hidden:,} more finding(s) not shown (raise --max-findings to see them)", "dim", color
        )
    yield (
        f"{report.file}: {s.lines:,} lines, {s.requests:,} requests, {human_bytes(s.bytes)}; "
        f"models: {_counts(s.models)}; endpoints: {_counts(s.endpoints)}"
    )
    verdict = _paint("valid", "ok", color) if report.valid else _paint("invalid", ERROR, color)
    yield f"  {s.errors:,} error(s), {s.warnings:,} warning(s): {verdict} for provider {report.provider}"


def _counts(counter) -> str:
    return ", ".join(f"{k} ({v:,})" for k, v in sorted(counter.items())) or "none"


def human_bytes(n: int) -> str:
    for unit in ("bytes", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)


def _escape(text: str, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def _github(report: Report, quiet: bool):
    for f in report.findings:
        if quiet and f.severity != ERROR:
            continue
        props = f"file={_escape(report.file, True)}"
        if f.line is not None:
            props += f",line={f.line}"
        props += f",title={_escape(f.code, True)}"
        level = "error" if f.severity == ERROR else "warning"
        path = f"{f.path}: " if f.path else ""
        yield f"::{level} {props}::{_escape(path + f.message)}"
