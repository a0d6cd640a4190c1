"""The library's messages speak of the Python API (`force=True`, `id_column=`); at the command line the
same advice names the options. This is the one place that rewrites the one into the other."""

from __future__ import annotations

import re

# Python keyword → the command-line option that sets it (only these are rewritten).
OPTIONS = {
    "force": "--force",
    "id_column": "--id-column",
    "id_prefix": "--id-prefix",
    "source": "--source",
    "max_findings": "--max-findings",
    "on_empty": "--on-empty",
}
_NAMES = "|".join(OPTIONS)
_REWRITES = [
    (
        re.compile(
            r"pass force=True to write ([^;()]+?) anyway, then repair it with fix_file\(in_place=True, "
            r"dedupe_ids=True\)"
        ),
        r"pass --force to write \1 anyway, then run `batchkit fix --dedupe-ids --in-place \1`",
    ),  # fmt: skip
    (
        re.compile(r"give the batch file as the input and the result files as the results"),
        "give the batch file first and the result files after --results (merge BATCH.jsonl -r OUTPUT.jsonl …)",
    ),
    (re.compile(rf"\b({_NAMES})=True\b"), lambda m: OPTIONS[m.group(1)]),
    (re.compile(rf"\b({_NAMES})=(?=[\s:,;)]|$)"), lambda m: OPTIONS[m.group(1)]),
]


def cli_words(message: str) -> str:
    """`message` with its Python-API advice put in command-line terms."""
    for pattern, replacement in _REWRITES:
        message = pattern.sub(replacement, message)
    return message
