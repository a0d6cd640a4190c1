"""`batchkit submit --max-enqueued-tokens`: many shards under a cap on prompt tokens in flight, against a real
`batchkit serve`, watched from the server's side; a killed run resumes, a refused batch goes again."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest
from polling import poll
from serverutil import running_server
from submitsupport import invoke, start_cli, write_requests

from batchkit.errors import UsageError
from batchkit.remote import (
    Connection,
    Queue,
    QueueOptions,
    Session,
    Shard,
    SubmitOptions,
    file_digest,
    shard_tokens,
)

MODEL = "gpt-4o-mini"
IN_FLIGHT = {"validating", "in_progress", "finalizing"}


def shards(folder: Path, count: int, requests: int = 4) -> list[Path]:
    folder.mkdir(exist_ok=True)
    return [
        write_requests(folder / f"part-{k:02d}.jsonl", requests, models=(MODEL,), prefix=f"shard{k}")
        for k in range(count)
    ]


def server_batches(base_url: str) -> list[dict]:
    return httpx.get(f"{base_url}/batches", params={"limit": 100}).json()["data"]


class InFlightWatcher:
    """Polls the server's batch list and keeps the most prompt tokens (by each batch's shard) seen in flight."""

    def __init__(self, base_url: str, tokens_by_sha: dict[str, int]):
        self.base_url, self.tokens_by_sha = base_url, tokens_by_sha
        self.most = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self.stopping.is_set():
            flying = [b for b in server_batches(self.base_url) if b["status"] in IN_FLIGHT]
            total = sum(self.tokens_by_sha[b["metadata"]["batchkit_sha256"]] for b in flying)
            self.most = max(self.most, total)
            self.stopping.wait(0.02)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.thread.join(10)


def by_shard(base_url: str) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = {}
    for batch in server_batches(base_url):
        grouped.setdefault(batch["metadata"]["batchkit_sha256"], []).append(batch)
    return grouped


@pytest.mark.slow
def test_twelve_shards_under_the_cap_survive_a_kill(tmp_path):
    files = shards(tmp_path / "shards", 12)
    tokens, _ = shard_tokens(files, "generic")
    per_shard = {file_digest(f)[0]: t[MODEL] for f, t in zip(files, tokens, strict=True)}
    cap = 3 * max(per_shard.values())  # three shards in flight at once, at most
    # The server's own limit is lower than the client's cap (as when other batches share the organisation),
    # so some batches are refused with token_limit_exceeded and must go again.
    server_limit = ("--enqueued-token-limit", str(2 * max(per_shard.values())))
    serving = (*server_limit, "--latency", "0.1", "--concurrency", "4")
    with running_server(*serving, data_dir=tmp_path / "srv") as server:
        args = [
            "submit",
            *files,
            "--base-url",
            server.base_url,
            "--max-enqueued-tokens",
            cap,
            "--interval",
            0.2,
        ]
        with InFlightWatcher(server.base_url, per_shard) as watcher:
            first = start_cli(*args)
            poll(lambda: len(server_batches(server.base_url)) >= 5, timeout=60, what="five batches")
            first.kill()  # kill -9 mid-way
            first.wait(30)
            assert len(server_batches(server.base_url)) < 12
            again = invoke(*args)
        assert again.returncode == 0, again.stderr
        assert "tokens in flight" in again.stderr and "queued" in again.stderr
        grouped = by_shard(server.base_url)
    assert set(grouped) == set(per_shard)  # every shard was sent ...
    refused = 0
    for batches in grouped.values():  # ... completed exactly once; the other batches of it were refused
        batches.reverse()  # the server lists newest first; oldest first, even within one second
        assert [b["status"] for b in batches] == ["failed"] * (len(batches) - 1) + ["completed"]
        for earlier, later in zip(batches, batches[1:], strict=False):
            assert earlier["errors"]["data"][0]["code"] == "token_limit_exceeded"
            assert earlier["failed_at"] <= later["created_at"]  # never two of one shard at once
        refused += len(batches) - 1
    assert refused >= 1
    assert max(per_shard.values()) < watcher.most <= cap  # several at once, never over the cap


@pytest.mark.slow
def test_a_refused_batch_goes_again_as_a_new_batch(tmp_path):
    files = shards(tmp_path / "shards", 6)
    tokens, _ = shard_tokens(files, "generic")
    biggest = max(t[MODEL] for t in tokens)
    # The server takes two shards at once; the client thinks three fit, so the third is refused.
    limit = ("--enqueued-token-limit", str(2 * biggest), "--latency", "0.1", "--concurrency", "2")
    with running_server(*limit, data_dir=tmp_path / "srv") as server:
        with Session(Connection(base_url=server.base_url)) as session:
            queue = Queue(
                session,
                [Shard(path, t) for path, t in zip(files, tokens, strict=True)],
                SubmitOptions(),
                QueueOptions(max_enqueued_tokens=3 * biggest, interval=0.2, backoff=0.1),
                progress=lambda event: None,
            )
            done = queue.run()
            rows = {e.batch_id: e for e in session.ledger.entries()}
        grouped = by_shard(server.base_url)
    assert [s.batch.status for s in done] == ["completed"] * 6
    assert sum(s.refusals for s in done) >= 1
    refused = 0
    for batches in grouped.values():
        statuses = sorted(b["status"] for b in batches)
        assert statuses.count("completed") == 1 and set(statuses) <= {"completed", "failed"}
        for batch in batches:
            if batch["status"] == "failed":
                refused += 1
                assert batch["errors"]["data"][0]["code"] == "token_limit_exceeded"
                assert rows[batch["id"]].error.startswith("token_limit_exceeded: Enqueued token limit")
    assert refused == sum(s.refusals for s in done)


def test_a_shard_larger_than_the_cap_is_refused_before_anything_is_sent(tmp_path):
    (path,) = shards(tmp_path / "shards", 1)
    with Session(Connection(base_url="http://127.0.0.1:9/v1")) as session:
        with pytest.raises(UsageError, match="split it with `batchkit split .* --max-file-tokens 10`"):
            Queue(session, [Shard(path, {MODEL: 11})], SubmitOptions(), QueueOptions(10), lambda e: None)


def test_max_cost_refuses_before_uploading(tmp_path):
    files = shards(tmp_path / "shards", 2, requests=50)
    with running_server(data_dir=tmp_path / "srv") as server:
        refused = invoke(
            "submit", *files, "--provider", "openai", "--base-url", server.base_url, "--max-cost", "0.000001"
        )
        assert refused.returncode == 2
        assert "over --max-cost" in refused.stderr
        assert httpx.get(f"{server.base_url}/files").json()["data"] == []  # nothing uploaded
        unpriced = invoke("submit", *files, "--base-url", server.base_url, "--max-cost", "5")
        assert unpriced.returncode == 2 and "no price is known" in unpriced.stderr
        fine = invoke(
            "submit", *files, "--provider", "openai", "--base-url", server.base_url, "--max-cost", "5",
            "--interval", "0.2",
        )  # fmt: skip
        assert fine.returncode == 0, fine.stderr


def test_the_default_cap_is_the_providers_published_number():
    from batchkit.providers import PROVIDERS

    assert PROVIDERS["together"].enqueued_tokens == 30_000_000_000
    assert PROVIDERS["openai"].enqueued_tokens is None  # per tier: the user names it


def test_the_queue_follows_batches_made_before_and_force_makes_new_ones(tmp_path):
    files = shards(tmp_path / "shards", 2)
    tokens, _ = shard_tokens(files, "generic")
    with running_server("--concurrency", "4", data_dir=tmp_path / "srv") as server:
        with Session(Connection(base_url=server.base_url)) as session:

            def queue(**submit):
                made = [Shard(path, t) for path, t in zip(files, tokens, strict=True)]
                options = QueueOptions(max_batches=1, interval=0.2)
                return Queue(session, made, SubmitOptions(**submit), options, lambda e: None).run()

            first = [s.batch.id for s in queue()]
            assert [s.batch.id for s in queue()] == first  # submitted before: followed, not sent again
            forced = [s.batch.id for s in queue(force=True)]
        assert set(forced).isdisjoint(first) and len(server_batches(server.base_url)) == 4


def test_two_runs_that_both_saw_a_refusal_make_one_new_batch(tmp_path):
    """Two `submit`s of one shard at once both see its batch refused; the second to send again finds the
    batch the first made since, where it made another (the shard ran twice, paid twice). Two queues over
    one ledger, stepped in the order that raced (two processes race the same way through the ledger)."""
    files = shards(tmp_path / "shards", 2)
    tokens, _ = shard_tokens(files, "generic")
    biggest = max(t[MODEL] for t in tokens)
    serving = ("--enqueued-token-limit", str(biggest), "--latency", "0.3", "--concurrency", "2")
    with running_server(*serving, data_dir=tmp_path / "srv") as server:
        with Session(Connection(base_url=server.base_url)) as session:

            def queue(paths: list[Path]) -> Queue:
                made = [Shard(p, tokens[files.index(p)]) for p in paths]
                options = QueueOptions(max_enqueued_tokens=10 * biggest, interval=0.05, backoff=0.0)
                return Queue(session, made, SubmitOptions(), options, lambda e: None)

            def followed(queue: Queue, done) -> bool:
                queue._follow()
                return done()

            first = queue(files)
            first._send_what_fits({s.path: first._resume(s) for s in first.shards})  # one of them is refused
            poll(
                lambda: followed(first, lambda: any(s.refusals for s in first.shards)),
                timeout=30,
                what="refusal",
            )
            refused = next(s for s in first.shards if s.refusals)
            second = queue([refused.path])
            assert second._resume(second.shards[0]) is None  # it follows the refused batch ...
            poll(lambda: followed(second, lambda: second.shards[0].refusals == 1), timeout=30, what="seen")
            poll(
                lambda: followed(first, lambda: "in flight" not in {s.state for s in first.shards}),
                timeout=30,
            )
            first._send_what_fits({})  # ... the first run sends the shard again, as a new batch
            second._send_what_fits({})  # and the second finds that batch
            assert second.shards[0].batch.id == refused.batch.id
        batches = by_shard(server.base_url)[file_digest(refused.path)[0]]
    assert len(batches) == 2 and [b["status"] for b in batches].count("failed") == 1
