"""The library's messages speak of the Python API (`force=True`, `id_column=`); at the command line the
same advice names the options. This is the one place that rewrites the one into the other."""

from __future__ import annotations

import re

import orjson

# Python keyword → the command-line option that sets it (only these are rewritten).
OPTIONS = {
    "force": "--force",
    "id_column": "--id-column",
    "id_prefix": "--id-prefix",
    "source": "--source",
    "max_findings": "--max-findings",
    "on_empty": "--on-empty",
    "base_url": "--base-url",
    "api_key_env": "--api-key-env",
    "input_format": "--input-format",
    "encoding": "--encoding",
    "delimiter": "--delimiter",
    "concurrency": "--concurrency",
    "only": "--only",
    "in_place": "--in-place",
    "output": "-o",
    "model": "--model",
    "model_column": "--model-column",
    "system": "--system",
    "user": "--user",
    "input": "--input",
    "messages_column": "--messages-column",
    "body_template": "--body-template",
    "endpoint": "--endpoint",
    "params": "--param",
    "tokenizer": "--tokenizer",
    "max_tokens": "--max-tokens",
    "max_file_tokens": "--max-file-tokens",
    "allow_stale": "--allow-stale",
    "max_cost": "--max-cost",
    "prices": "--prices",
    "provider": "--provider",
    "allow_missing": "--allow-missing",
}
_NAME = rf"(?<![\w.])({'|'.join(OPTIONS)})="
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
    (re.compile(r"\(escape_formulas=False keeps them raw\)"), "(--no-escape-formulas to keep them raw)"),
    # on_empty={"rating": "keep"} → --on-empty rating=keep; on_empty="skip" → --on-empty skip
    (
        re.compile(r'on_empty=\{("(?:[^"\\]|\\.)*"): "(\w+)"\}'),
        lambda m: f"--on-empty {_column(m.group(1))}={m.group(2)}",
    ),
    (re.compile(r'on_empty="(\w+)"'), r"--on-empty \1"),
    (re.compile(rf'{_NAME}"([^"\s]+)"'), lambda m: f"{OPTIONS[m.group(1)]} {m.group(2)}"),  # id_column="id"
    (re.compile(rf"{_NAME}True\b"), lambda m: OPTIONS[m.group(1)]),  # force=True → --force
    # id_column= → --id-column (also in a list: system=/user= → --system/--user)
    (re.compile(rf"{_NAME}(?=[\s:,;)?]|/{_NAME}|$)"), lambda m: OPTIONS[m.group(1)]),
    (re.compile(rf"{_NAME}(?=\S)"), lambda m: OPTIONS[m.group(1)] + " "),  # base_url=URL → --base-url URL
]


def _column(quoted: str) -> str:
    """A column name as a message quotes it for Python (JSON), as it is typed after --on-empty."""
    return orjson.loads(quoted)


def cli_words(message: str) -> str:
    """`message` with its Python-API advice put in command-line terms."""
    for pattern, replacement in _REWRITES:
        message = pattern.sub(replacement, message)
    return message
