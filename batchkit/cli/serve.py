"""`batchkit serve`: a local OpenAI-compatible Files + Batches server."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import UsageError
from .common import say


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (only this one).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where state (SQLite) and file bodies live. [default: $BATCHKIT_HOME/server]",
)
@click.option(
    "--backend",
    type=click.Choice(["echo", "upstream"]),
    default="echo",
    show_default=True,
    help="echo: deterministic local answers; upstream: forward to --upstream-url.",
)
@click.option(
    "--upstream-url", metavar="URL", help="OpenAI-compatible base URL, e.g. http://localhost:8001/v1."
)
@click.option("--upstream-key-env", metavar="VAR", help="Environment variable holding the upstream API key.")
@click.option(
    "--model",
    "models",
    multiple=True,
    metavar="NAME",
    help="A model to serve (repeatable). echo without --model answers any model name.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Requests in flight to the backend at most.",
)
@click.option(
    "--window-scale",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="Multiply completion windows (e.g. 0.0001 makes 24h last 8.6 s) to test expiry.",
)
@click.option(
    "--completion-windows",
    default="24h",
    show_default=True,
    metavar="LIST",
    help="Comma-separated completion_window values accepted (e.g. 24h,48h,72h).",
)
@click.option(
    "--latency",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    metavar="SECONDS",
    help="echo: wait this long before each answer (to watch a batch run).",
)
@click.option(
    "--api-key-env",
    metavar="VAR",
    help="Require clients to send the key in this environment variable (Authorization: Bearer KEY).",
)
@click.option(
    "--allowed-host",
    "allowed_hosts",
    multiple=True,
    metavar="NAME",
    help="Also answer requests whose Host header is NAME (repeatable); the bound address always is.",
)
@click.option(
    "--allowed-origin",
    "allowed_origins",
    multiple=True,
    metavar="ORIGIN",
    help="Also accept requests that web pages of ORIGIN (e.g. http://localhost:3000) send (repeatable); "
    "pages the server itself serves always may.",
)
@click.option(
    "--insecure",
    is_flag=True,
    help="Allow an address other machines can reach (e.g. 0.0.0.0) without --api-key-env.",
)
@click.option(
    "--enqueued-token-limit",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Fail a batch (token_limit_exceeded, as OpenAI does) that would put more than N prompt tokens "
    "of one model in flight.",
)
@click.option(
    "--max-file-size",
    default="200MB",
    show_default=True,
    metavar="SIZE",
    help="Refuse an upload larger than this (OpenAI's batch file limit by default), as OpenAI does.",
)
@click.option(
    "--fail-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    metavar="P",
    help="echo: answer this share of requests (in batches and direct) with an error that passes, 500 or 429.",
)
@click.option(
    "--expire-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    metavar="Q",
    help="echo: leave this share of a batch's requests unanswered, so the batch expires at the end of its "
    "window (shorten it with --window-scale).",
)
@click.option(
    "--seed",
    type=int,
    default=None,
    metavar="S",
    help="Seed of the draws --fail-rate and --expire-rate make.",
)
@click.option(
    "--fail-every",
    type=click.IntRange(min=0),
    default=0,
    metavar="N",
    hidden=True,
    help="echo, testing aid: answer every Nth direct request with 429 or 503.",
)
def serve(data_dir, completion_windows, max_file_size, **options):
    """Run a local OpenAI-compatible Files + Batches API (and the endpoints a batch line may name).

    \b
    Point any OpenAI client (or `batchkit submit`, `batchkit run`) at it:
        export OPENAI_BASE_URL=http://127.0.0.1:8000/v1

    Open http://127.0.0.1:8000/ for a summary of what is running. Batches persist in --data-dir: stop
    (even kill -9) the server and start it again to continue them. The echo backend answers each chat
    request with its last user message and checks every body with batchkit's validator.

    Only this machine can reach it unless --host says otherwise; an address other machines can reach
    needs --api-key-env (or --insecure), which then guards every page. Requests must name the bound
    address (or an --allowed-host) in their Host header, and send JSON or multipart bodies; a web page of
    another origin (another port included) cannot drive it unless --allowed-origin names it.
    """
    from ..server import require_server_extra

    require_server_extra()
    from ..paths import home
    from ..server import ServerConfig, check_exposure, check_port
    from ..server import serve as run_server

    config = ServerConfig(
        data_dir=(data_dir or home() / "server").resolve(),
        completion_windows=_windows(completion_windows),
        max_file_size=_size(max_file_size),
        **options,  # the other options are named as ServerConfig's fields
    )
    check_exposure(config)
    check_port(config.host, config.port)
    base = f"http://{f'[{config.host}]' if ':' in config.host else config.host}:{config.port}/v1"
    say(
        f"batchkit serve: {config.backend} backend on {base} (data in {config.data_dir})\n"
        f"  point a client at it: export OPENAI_BASE_URL={base}",
        err=True,
    )
    run_server(config)


def _windows(text: str) -> tuple[str, ...]:
    from ..server import window_seconds

    windows = tuple(w.strip() for w in text.split(",") if w.strip())
    for window in windows:
        try:
            window_seconds(window)
        except (KeyError, ValueError, IndexError):
            raise UsageError(
                f"cannot read completion window {window!r}; write it like 24h, 90m or 2d"
            ) from None
    return windows or ("24h",)


def _size(text: str) -> int:
    from ..providers import parse_size

    size = parse_size(text)
    if not size:
        raise UsageError(f"--max-file-size must be more than 0 bytes, not {text!r}")
    return size
