"""What the tests of `batchkit serve`'s Anthropic, Gemini and Mistral APIs share: the key the servers
require, a server with a slow echo (so a batch can be caught mid-way), and an echo server to use as the
upstream of another."""

from __future__ import annotations

import contextlib

from serverutil import running_server

KEY = "sk-surface-test-key"
ENV = {"SURFACE_KEY": KEY}
KEYED = ("--api-key-env", "SURFACE_KEY")
SLOW = ("--latency", "0.2", "--concurrency", "1")  # a batch of ten takes two seconds: time to kill it


def kill_9(server) -> int:
    """SIGKILL a running server (no chance to clean up) and give its port, to start another on its state."""
    server.process.kill()
    server.process.wait()
    return int(server.root_url.rsplit(":", 1)[1])


@contextlib.contextmanager
def keyed_server(*args: str, **kwargs):
    """A server that requires KEY (each API's clients send it in their own header)."""
    with running_server(*KEYED, *args, env=ENV, **kwargs) as server:
        yield server


@contextlib.contextmanager
def upstream_pair(tmp_path):
    """(an echo server, a server whose backend is that echo server through --backend upstream)."""
    with (
        running_server(data_dir=tmp_path / "echo") as echo,
        keyed_server(
            "--backend", "upstream", "--upstream-url", echo.base_url, data_dir=tmp_path / "front"
        ) as front,
    ):
        yield echo, front
