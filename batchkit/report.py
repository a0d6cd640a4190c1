"""Renders reports for people (text), programs (json) and CI (GitHub workflow annotations).

Everything a report shows may come from a hostile file (field names, model names, the file's own name):
text output escapes control characters and drops terminal control sequences, always.
"""

from __future__ import annotations

import re

import orjson

from .findings import ERROR, Finding, Report
from .lines import dumps_json

FORMATS = ("text", "json", "github")
GROUP_FROM = 4  # a code found this many times prints as one line in text output
_COLORS = {ERROR: "31", "warning": "33", "ok": "32", "bold": "1", "dim": "2"}
# CSI (ESC [ … final byte) and OSC (ESC ] … BEL or ESC \) sequences: what a terminal would act on
_SEQUENCES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?")
# C0 and C1 controls, DEL, the bidirectional marks and overrides that reorder what a reader sees, the
# line and paragraph separators, and the invisible characters that make one name look like another
# (zero-width space, word joiner, byte-order mark; the joiners U+200C/U+200D are kept: scripts and emoji
# need them)
_INVISIBLE = "\u061c\u180e\u200b\u200e\u200f\u2028-\u202e\u2060-\u2064\u2066-\u2069\ufeff"
_CONTROLS = re.compile(f"[\x00-\x1f\x7f-\x9f{_INVISIBLE}]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# the ones of them JSON leaves raw inside strings (it escapes C0 controls itself)
_RAW_IN_JSON = re.compile(f"[\x7f-\x9f{_INVISIBLE}]")


def counted(n: int, word: str) -> str:
    """'1 row', '2 rows', '1,000 requests'."""
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def printable(text: str) -> str:
    """`text` safe for a terminal and a line-based log: terminal control sequences removed, every other
    control character escapes (`\\n`, `\\x1b`, `\\u202e`), so one finding is always one line."""
    return _CONTROLS.sub(_escape_char, without_sequences(text))


def without_sequences(text: str) -> str:
    """`text` without the terminal control sequences it holds (the rest as it is)."""
    return _SEQUENCES.sub("", text)


def printable_lines(text: str) -> str:
    """`printable` for text of several lines: each line filtered, the line breaks kept."""
    return "\n".join(printable(line) for line in text.split("\n"))


def json_text(value, indent: bool = True) -> str:
    """`value` as JSON for a terminal or a log: the characters `printable` escapes, which JSON may carry
    raw inside strings (C1 controls, DEL, the bidirectional overrides), written as \\u escapes."""
    text = dumps_json(value, orjson.OPT_INDENT_2 if indent else 0).decode()  # integers past 64 bits too
    return _RAW_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _escape_char(match: re.Match) -> str:
    char = match.group()
    return _NAMED.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


def plural(n: int, word: str) -> str:
    """'1 line', '2 lines', '1,000 requests'."""
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def finding_line(file: str, finding: Finding, *, color: bool = False, detail: str = "") -> str:
    """One finding as a compiler prints it: `file:line: severity[code] path: message`, escaped.

    `detail` goes between the code and the path (the count of a group of findings)."""
    where = f"{file}:{finding.line}" if finding.line is not None else file
    head = _paint(f"{finding.severity}[{finding.code}]", finding.severity, color)
    path = f" {finding.path}" if finding.path else ""
    return printable(f"{where}: ") + head + printable(f"{detail}{path}: {finding.message}")


def render(
    reports: list[Report],
    fmt: str = "text",
    *,
    color: bool = False,
    quiet: bool = False,
    group: bool = False,
    summary: bool = True,
) -> str:
    """Reports in `fmt`. With `group`, text output prints a code found GROUP_FROM times or more as one
    line (JSON always keeps every finding); without `summary`, text output is the findings alone."""
    if fmt == "json":
        data = [r.to_dict() for r in reports]
        return json_text(data[0] if len(data) == 1 else data)
    if fmt == "github":
        return "\n".join(line for r in reports for line in _github(r, quiet))
    return "\n".join(line for r in reports for line in _text(r, color, quiet or not summary, group, quiet))


def _paint(text: str, style: str, color: bool) -> str:
    return f"\x1b[{_COLORS[style]}m{text}\x1b[0m" if color else text


def _fails(report: Report, finding: Finding) -> bool:
    """Whether a finding makes the file invalid: an error, or any finding of a --strict report."""
    return finding.severity == ERROR or report.strict


def _text(report: Report, color: bool, quiet: bool, group: bool, errors_only: bool):
    shown = [f for f in report.findings if not errors_only or _fails(report, f)]
    yield from _finding_lines(report.file, shown, color, GROUP_FROM if group else None)
    if quiet:
        return
    s = report.summary
    if report.omitted:
        counts = ", ".join(f"{code} ×{n:,}" for code, n in sorted(report.omitted.items()))
        hidden = plural(sum(report.omitted.values()), "more finding")
        yield _paint(
            printable(f"… {hidden} not shown ({counts}); raise --max-findings to see them"), "dim", color
        )
    yield printable(
        f"{report.file}: {plural(s.lines, 'line')}, {plural(s.requests, 'request')}, {human_bytes(s.bytes)}; "
        f"models: {_counts(s.models)}; endpoints: {_counts(s.endpoints)}"
        + (f"; bodies: {_counts(s.bodies)}" if s.bodies else "")
    )
    verdict = _paint("valid", "ok", color) if report.valid else _paint("invalid", ERROR, color)
    strict = " (--strict: warnings count as errors)" if report.strict and s.warnings else ""
    yield (
        f"  {plural(s.errors, 'error')}, {plural(s.warnings, 'warning')}: {verdict}{strict} "
        f"for provider {printable(report.provider)}"
    )


def _finding_lines(file: str, findings: list[Finding], color: bool, group_from: int | None):
    """Findings in order; a code found `group_from` times or more is one line where it first appears:
    `file:5: error[mixed-model] ×237, lines 5–500; first: /body/model: …`."""
    if group_from is None:
        yield from (finding_line(file, f, color=color) for f in findings)
        return
    by_code: dict[str, list[Finding]] = {}
    for f in findings:
        by_code.setdefault(f.code, []).append(f)
    for f in findings:
        group = by_code[f.code]
        if len(group) < group_from:
            yield finding_line(file, f, color=color)
        elif f is group[0]:
            lines = [g.line for g in group if g.line is not None]
            span = f", lines {lines[0]:,}–{lines[-1]:,}" if lines else ""
            first = "; first:" if f.path else "; first"  # the path, when there is one, ends with its colon
            yield finding_line(file, f, color=color, detail=f" ×{len(group):,}{span}{first}")


def _counts(counter) -> str:
    return ", ".join(f"{k} ({v:,})" for k, v in sorted(counter.items())) or "none"


def human_bytes(n: int) -> str:
    for unit in ("bytes", "kB", "MB"):
        if n < 1000:
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:,.1f} GB"


def _escape(text: str, prop: bool = False) -> str:
    text = printable(text).replace("%", "%25")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def _github(report: Report, quiet: bool):
    for f in report.findings:
        if quiet and not _fails(report, f):
            continue
        props = f"file={_escape(report.file, True)}"
        if f.line is not None:
            props += f",line={f.line}"
        props += f",title={_escape(f.code, True)}"
        level = "error" if _fails(report, f) else "warning"
        path = f"{f.path}: " if f.path else ""
        yield f"::{level} {props}::{_escape(path + f.message)}"
