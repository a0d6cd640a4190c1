"""Is the port free? Checked before the server starts, so a busy port is one clear line, not uvicorn's."""

from __future__ import annotations

import errno
import socket

from ..errors import UsageError


def holder(port: int) -> str | None:
    """'PID 123 (python3)' for the process listening on `port`, when the system lets us see it."""
    try:
        import psutil
    except ImportError:
        return None
    try:
        for connection in psutil.net_connections(kind="inet"):
            if connection.status == psutil.CONN_LISTEN and connection.laddr.port == port and connection.pid:
                return f"PID {connection.pid} ({psutil.Process(connection.pid).name()})"
    except (psutil.Error, OSError):
        return None
    return None


def check_port(host: str, port: int) -> None:
    """Raise a UsageError saying who holds `host:port` when it cannot be bound."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as e:
            if e.errno != errno.EADDRINUSE:
                raise UsageError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
            who = holder(port)
            held = f" by {who}" if who else " by another program"
            raise UsageError(
                f"port {port} on {host} is already in use{held}; stop it or choose another --port"
            ) from None
