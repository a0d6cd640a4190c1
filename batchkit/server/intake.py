"""The `validating` stage of a batch: read its input file with batchkit's own reader and rules, and turn
what fails the whole batch into OpenAI's `errors.data` entries (line, code, param, message).

What fails a batch here, as on OpenAI: lines that are not JSON objects, missing or malformed
custom_id/method/url/body, a url other than the batch's endpoint, `stream: true`, a model the server does
not serve, a missing or malformed `body.model`/`body.messages`, duplicate custom_ids and an empty file.
Anything else wrong inside a body fails only that request, with an HTTP 400 in the error file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..formats import OPENAI, read_requests
from ..validate import validate_file
from ..wire import LOCAL, MAX_BATCH_ERRORS, WRONG_URL_MESSAGE, batch_error, unknown_model_message

# findings kept while validating: the reported errors.data plus room for the warnings and per-request
# problems among them; beyond it findings are only counted (a file of a million bad lines stays cheap)
KEPT_FINDINGS = 2 * MAX_BATCH_ERRORS


@dataclass
class Intake:
    errors: list[dict] = field(default_factory=list)  # errors.data entries, in line order
    total: int = 0
    model: str | None = None  # the one model every line names, if there is one
    findings: int = 0  # every error the validator counted, kept or not


def _validate(path, kept: int | None, max_bytes: int | None):
    # The bytes as uploaded: a compressed upload is not JSON lines (as on OpenAI), never unpacked here.
    # Read as OpenAI's lines (the only ones a Batch API takes), each held only up to validate's bound.
    with open(path, "rb") as uploaded:
        return validate_file(uploaded, LOCAL, max_findings=kept, max_bytes=max_bytes, dialect=OPENAI)


def check_input(
    path: str | os.PathLike,
    endpoint: str,
    served_models: frozenset[str] | None,
    max_bytes: int | None = None,
) -> Intake:
    """Validate a batch's input file against its endpoint, the served models and the server's file limit
    `max_bytes` (which bounds a line too, as in `validate`). Runs in a thread."""
    report = _validate(path, KEPT_FINDINGS, max_bytes)
    if len(report.findings) == KEPT_FINDINGS and not any(batch_error(f) for f in report.findings):
        # every kept finding fails only its own request: look for the ones that fail the batch further on
        report = _validate(path, None, max_bytes)
    summary = report.summary
    # The summary counts every url and model, so the file is read again only to place the lines that
    # name another endpoint or a model the server does not serve.
    wrong_endpoint = set(summary.endpoints) - {endpoint}
    unknown_model = set(summary.models) - served_models if served_models is not None else set()
    server_errors = (
        _server_errors(path, endpoint, wrong_endpoint, unknown_model)
        if wrong_endpoint or unknown_model
        else []
    )
    seen: set[tuple] = set()
    errors = []
    wrong_url = {e["line"] for e in server_errors if e["code"] == "invalid_url"}
    for error in sorted(
        [e for e in (batch_error(f, endpoint) for f in report.findings) if e] + server_errors,
        key=lambda e: e["line"] or 0,
    ):
        key = (error["line"], error["code"], error["param"])
        # a body checked against another endpoint's schema says nothing more than invalid_url does
        if error["line"] in wrong_url and (error["param"] or "").startswith("body."):
            continue
        if key not in seen:
            seen.add(key)
            errors.append(error)
    models = summary.models
    return Intake(
        errors[:MAX_BATCH_ERRORS],
        summary.requests,
        next(iter(models)) if len(models) == 1 else None,
        summary.errors,
    )


def _server_errors(path, endpoint: str, wrong_endpoint: set[str], unknown_model: set[str]) -> list[dict]:
    """invalid_url and model_not_found for each line that has them, in line order."""
    errors = []
    with open(path, "rb") as stream:
        for request in read_requests(stream, lambda finding: None, dialect=OPENAI):
            number = request.line
            if request.endpoint in wrong_endpoint:
                errors.append(
                    {"code": "invalid_url", "param": "url", "line": number, "message": WRONG_URL_MESSAGE}
                )
            if request.model in unknown_model:
                message = unknown_model_message(request.model)
                errors.append(
                    {"code": "model_not_found", "param": "body.model", "line": number, "message": message}
                )
    return errors
