"""A watch outlives its server going away a while: `batchkit watch` (and `submit --wait`, which watches the
same way) says once that it cannot reach the server, asks again at each poll, and follows the batch to its
end when the server is back (a real `batchkit serve`, killed with -9 and started again on its port). A
watch that never reached the server (a wrong address) still ends at once."""

from __future__ import annotations

import pytest
from polling import poll
from serverutil import free_port, running_server
from submitsupport import run_cli, start_cli, write_requests

pytestmark = pytest.mark.slow


def test_a_watch_asks_on_through_a_server_restart_and_follows_the_batch_to_its_end(tmp_path):
    data, port = tmp_path / "data", free_port()
    args = ("--model", "gpt-4o-mini", "--latency", "0.1", "--concurrency", "1")
    batch = write_requests(tmp_path / "b.jsonl", 30, models=("gpt-4o-mini",))
    said = tmp_path / "watch.stderr"
    with running_server(*args, data_dir=data, port=port) as server:
        submitted = run_cli("submit", batch, "--base-url", server.base_url)
        assert submitted.returncode == 0, submitted.stderr
        with open(said, "w") as stderr:
            watch = start_cli("watch", batch, "--interval", "0.2", stderr=stderr)
        first = poll(lambda: _whole_lines(said), timeout=60, what="the watch's first line")[0]
        assert "completed" in first, first  # the watch has had an answer from the server
        server.process.kill()  # SIGKILL, mid-batch, while the watch polls
        server.process.wait()
        # the server stays down until the watch, its SDK's own retries spent, says it asks on
        poll(lambda: "asking again" in said.read_text(), timeout=60, what="the watch to say it asks again")
    with running_server(*args, data_dir=data, port=port):
        out, _ = watch.communicate(timeout=120)
    err = said.read_text()
    assert watch.returncode == 0, err
    assert "asking again at each poll, for up to 15 minutes" in err and "answering again" in err, err
    assert "completed (30/30 completed, 0 failed)" in out + err


def _whole_lines(path) -> list[str]:
    return [line for line in path.read_text().splitlines(keepends=True) if line.endswith("\n")]


def test_a_watch_that_never_reached_its_server_ends_at_once(tmp_path):
    batch = write_requests(tmp_path / "b.jsonl", 2, models=("gpt-4o-mini",))
    with running_server("--model", "gpt-4o-mini") as server:
        assert run_cli("submit", batch, "--base-url", server.base_url).returncode == 0
    gone = run_cli("watch", batch, "--interval", "0.2", timeout=60)
    assert gone.returncode == 2 and "cannot reach" in gone.stderr, gone.stderr
