"""Every writer (build, convert, split, retry, fix, merge) leaves nothing behind when its write cannot finish:
a full disk or a file size limit (`ulimit -f`, EFBIG) is one line naming the file and the cause with exit
2; SIGTERM stops it as Ctrl-C does; a part file a killed run left is removed by the next run of the same
output (and nobody else's). New files get the user's umask, never the mode a symlink's target has."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import threading
import time

import pytest
from polling import poll
from submitsupport import cli_command, cli_env, invoke

ROWS = 3_000


def write_inputs(folder, rows=ROWS):
    """A questions table, a batch file of as many requests and results for it (every third one failed)."""
    folder.mkdir(exist_ok=True)
    table = ["id,question"] + [
        f"r{i}," + f"What is the meaning of question number {i}? " * 3 for i in range(rows)
    ]
    (folder / "q.csv").write_text("\n".join(table) + "\n")
    with open(folder / "b.jsonl", "w") as batch, open(folder / "b.output.jsonl", "w") as results:
        for i in range(rows):
            body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"What is {i}? " * 10}]}
            batch.write(json.dumps({"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions",
                                    "body": body}) + "\n")  # fmt: skip
            ok = i % 3 != 0
            answer = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "yes " * 30}}]}
            response = {
                "status_code": 200 if ok else 400,
                "body": answer if ok else {"error": {"message": "no"}},
            }
            results.write(json.dumps({"id": f"x{i}", "custom_id": f"r{i}", "response": response}) + "\n")
    return folder


WRITERS = {
    "build": ["build", "q.csv", "-o", "out.jsonl", "--model", "gpt-4o-mini", "--user", "{question}"],
    "convert": ["convert", "b.jsonl", "--to", "gemini", "-o", "out.jsonl"],
    "split": ["split", "b.jsonl", "-o", "out.jsonl", "--max-requests", "1000"],
    "retry": ["retry", "b.jsonl", "-r", "b.output.jsonl", "-o", "out.jsonl"],
    "fix": ["fix", "b.jsonl", "-o", "out.jsonl"],
    "merge csv": ["merge", "b.jsonl", "-r", "b.output.jsonl", "-o", "out.csv"],
    "merge xlsx": ["merge", "b.jsonl", "-r", "b.output.jsonl", "-o", "out.xlsx"],
    "merge jsonl": ["merge", "b.jsonl", "-r", "b.output.jsonl", "-o", "out.jsonl"],
}


def leftovers(folder) -> list[str]:
    """What is in `folder` besides the inputs."""
    return sorted(p.name for p in folder.iterdir() if p.name not in ("q.csv", "b.jsonl", "b.output.jsonl"))


def limited(max_bytes: int):
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))

    return limit


@pytest.mark.slow
@pytest.mark.parametrize("writer", list(WRITERS))
def test_a_size_limit_is_one_line_exit_2_and_leaves_nothing(tmp_path, writer):
    folder = write_inputs(tmp_path / "w")
    done = subprocess.run(cli_command(*WRITERS[writer], "-q"), cwd=folder, env=cli_env(), capture_output=True,
                          text=True, timeout=120, preexec_fn=limited(100_000))  # fmt: skip
    output = WRITERS[writer][WRITERS[writer].index("-o") + 1]
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [f"batchkit: error: .: cannot write {output} there: File too large"]
    assert leftovers(folder) == []


def start(args, folder, stdin=subprocess.DEVNULL):
    return subprocess.Popen(cli_command(*args), cwd=folder, env=cli_env(), stdin=stdin,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def parts(folder) -> list:
    return sorted(p for p in folder.iterdir() if p.name.endswith(".part"))


def stopped_while_writing(args, folder, how=signal.SIGTERM):
    """Run a writer that reads its requests from standard input; send `how` once it writes the first half
    to its part file (it then waits for the second); (the process, its stderr)."""
    lines = (folder / "b.jsonl").read_bytes().splitlines(keepends=True)
    process = start(args, folder, stdin=subprocess.PIPE)
    process.stdin.write(b"".join(lines[: len(lines) // 2]).decode())
    process.stdin.flush()
    poll(lambda: parts(folder), timeout=60, what="a part file (made when the first line is written)")
    process.send_signal(how)
    _, err = process.communicate(timeout=60)
    return process, err


@pytest.mark.slow
@pytest.mark.parametrize("writer", ["split", "fix"])  # convert reads every id before it writes (renaming)
def test_sigterm_while_writing_removes_the_part(tmp_path, writer):
    folder = write_inputs(tmp_path / "w")
    args = [a if a != "b.jsonl" else "-" for a in WRITERS[writer]]
    process, err = stopped_while_writing(args, folder)
    assert process.returncode == 130, err
    assert err.strip().splitlines()[-1] == "batchkit: interrupted; nothing half-written is left behind"
    assert "Traceback" not in err and leftovers(folder) == []


def stopped_once_its_part_is_there(args, folder):
    """Run a writer and send it SIGTERM as soon as its part file is there; (the process, its stderr)."""
    process = start(args, folder)
    poll(lambda: parts(folder) or process.poll() is not None, timeout=120, interval=0.005, what="a part file")
    assert process.poll() is None, "finished before it could be stopped: give it more rows"
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    return process, err


@pytest.mark.slow
@pytest.mark.parametrize("writer", ["build", "merge csv", "convert"])
def test_sigterm_during_a_long_build_merge_or_convert_removes_the_part(tmp_path, writer):
    folder = write_inputs(tmp_path / "w", rows=60_000)
    for _ in range(3):
        process, err = stopped_once_its_part_is_there(WRITERS[writer], folder)
        if process.returncode != 0:
            break
        # It was done before the signal came (a loaded machine let this process sleep past its end): the
        # output is whole; try again.
        assert "out" in " ".join(leftovers(folder)), err
        for name in leftovers(folder):
            (folder / name).unlink()
    assert process.returncode == 130 and "Traceback" not in err, err
    assert leftovers(folder) == []


@pytest.mark.slow
def test_the_next_run_removes_the_part_a_killed_run_left_and_only_that(tmp_path):
    folder = write_inputs(tmp_path / "w")
    args = [a if a != "b.jsonl" else "-" for a in WRITERS["fix"]]
    process, _ = stopped_while_writing(args, folder, how=signal.SIGKILL)
    (left,) = parts(folder)
    assert left.name.startswith(".out.jsonl.")
    foreign = [
        folder / ".other.jsonl.1.abcdefgh.part",  # another output's
        folder / f".out.jsonl.{os.getpid()}.abcdefgh.part",  # a writer that is still running
        folder / ".out.jsonl.abcdefgh.part",  # no writer named: nothing to tell
    ]
    for path in foreign:
        path.write_text("not ours to remove")
    done = subprocess.run(cli_command(*WRITERS["fix"], "-q"), cwd=folder, env=cli_env(),
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert not left.exists() and all(path.exists() for path in foreign)
    assert leftovers(folder) == sorted([*(p.name for p in foreign), "out.jsonl"])


@pytest.mark.parametrize("writer", ["merge csv", "build", "fix"])
def test_a_symlink_is_replaced_by_a_file_of_the_users_umask_and_what_it_named_is_untouched(
    tmp_path, writer, monkeypatch
):
    folder = write_inputs(tmp_path / "w", rows=10)
    output = WRITERS[writer][WRITERS[writer].index("-o") + 1]
    named = tmp_path / "elsewhere"
    named.write_text("kept")
    named.chmod(0o600)
    (folder / output).symlink_to(named)
    monkeypatch.chdir(folder)
    previous = os.umask(0o027)
    try:
        done = invoke(*WRITERS[writer], *(["--force"] if writer == "build" else []), "-q")
    finally:
        os.umask(previous)
    assert done.returncode == 0, done.stderr
    written = folder / output
    assert not written.is_symlink() and written.stat().st_mode & 0o777 == 0o640
    assert named.read_text() == "kept" and named.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("writer", list(WRITERS))
def test_a_fifo_or_a_link_to_a_device_is_refused_and_left_as_it_is(tmp_path, writer, monkeypatch):
    # a write renames a whole file over its target: over a FIFO or a device (/dev/null itself, as root) it
    # would replace the node, and through a link to /dev/full nothing would say the lines were lost
    folder = write_inputs(tmp_path / "w", rows=10)
    output = WRITERS[writer][WRITERS[writer].index("-o") + 1]
    monkeypatch.chdir(folder)
    target = folder / output
    for node, kind in (("fifo", "is a FIFO"), ("/dev/full", "is a device or socket")):
        target.unlink(missing_ok=True)
        if node == "fifo":
            os.mkfifo(target)
        else:
            target.symlink_to(node)
        done = invoke(*WRITERS[writer], "-q")
        assert done.returncode == 2 and f"{output}: {kind}, not a file" in done.stderr, done.stderr
        assert target.is_fifo() if node == "fifo" else os.readlink(target) == node
        assert leftovers(folder) == [output]


def test_a_path_under_dev_is_refused_and_left_as_it_is(tmp_path, monkeypatch):
    # /dev/stdout is a link in /dev: renamed over, as root, it would be a file for every later process
    folder = write_inputs(tmp_path / "w", rows=10)
    monkeypatch.chdir(folder)
    before = os.readlink("/dev/stdout")
    done = invoke("convert", "b.jsonl", "--to", "anthropic", "--max-tokens", "5", "-o", "/dev/stdout", "-q")
    assert done.returncode == 2 and "/dev/stdout: a device path, not a file" in done.stderr, done.stderr
    assert os.readlink("/dev/stdout") == before


@pytest.mark.parametrize(
    "args, named",
    [
        (["convert", "b.jsonl", "--to", "anthropic", "--max-tokens", "5", "-o", "b.jsonl"], "b.jsonl"),
        (["retry", "b.jsonl", "-r", "b.output.jsonl", "-o", "b.output.jsonl"], "b.output.jsonl"),
        (["retry", "b.jsonl", "-r", "b.output.jsonl", "-o", "b.jsonl"], "b.jsonl"),
        (["merge", "b.jsonl", "-r", "b.output.jsonl", "-o", "b.jsonl"], "b.jsonl"),
        (["merge", "b.jsonl", "-r", "b.output.jsonl", "-o", "b.output.jsonl"], "b.output.jsonl"),
        (
            [
                "merge",
                "b.jsonl",
                "-r",
                "b.output.jsonl",
                "--source",
                "q.csv",
                "--id-column",
                "id",
                "-o",
                "q.csv",
            ],
            "q.csv",
        ),
        (
            ["merge", "b.jsonl", "-r", "b.output.jsonl", "-o", "link.jsonl"],
            "b.jsonl",
        ),  # the same file by a link
    ],
)
def test_an_output_that_is_one_of_the_inputs_is_refused(tmp_path, args, named, monkeypatch):
    folder = write_inputs(tmp_path / "w", rows=10)
    (folder / "link.jsonl").symlink_to("b.jsonl")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    monkeypatch.chdir(folder)
    done = invoke(*args)
    assert done.returncode == 2 and f"{named} is an input of this command" in done.stderr, done.stderr
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_a_write_never_removes_its_input_as_a_stale_shard_of_its_output(tmp_path, monkeypatch):
    folder = write_inputs(tmp_path / "w", rows=10)
    monkeypatch.chdir(folder)
    assert invoke("split", "b.jsonl", "-o", "s.jsonl", "--max-requests", "5", "-q").returncode == 0
    shards = {p.name: p.read_bytes() for p in folder.glob("s-*.jsonl")}
    assert sorted(shards) == ["s-00001.jsonl", "s-00002.jsonl"]
    for args in (["convert", "s-00001.jsonl", "--to", "anthropic", "--max-tokens", "5", "-o", "s.jsonl"],
                 ["split", "s-00002.jsonl", "-o", "s.jsonl"]):  # fmt: skip
        done = invoke(*args, "-q")
        assert done.returncode == 2 and "is a shard batchkit wrote for s.jsonl" in done.stderr, done.stderr
        assert {p.name: p.read_bytes() for p in folder.glob("s-*.jsonl")} == shards
        assert not (folder / "s.jsonl").exists()


@pytest.mark.slow
def test_run_stopped_by_a_size_limit_is_one_line_and_resumes(tmp_path):
    from serverutil import running_server

    rows = 600  # about 400 kB of answers: four times the 100 kB limit the first run stops at
    folder = write_inputs(tmp_path / "w", rows=rows)
    with running_server("--model", "gpt-4o-mini") as server:
        args = cli_command("run", "b.jsonl", "--base-url", server.base_url, "-o", "r.jsonl", "-q")
        limited_run = subprocess.run(args, cwd=folder, env=cli_env(), capture_output=True, text=True, timeout=300,
                                     preexec_fn=limited(100_000))  # fmt: skip
        resumed = subprocess.run(args, cwd=folder, env=cli_env(), capture_output=True, text=True, timeout=300)
    assert limited_run.returncode == 2
    assert limited_run.stderr.splitlines() == [
        "batchkit: error: .: cannot write r.jsonl.part there: File too large"
    ]
    assert resumed.returncode == 0, resumed.stderr  # the part kept what was answered; the rest is sent now
    assert len((folder / "r.jsonl").read_text().splitlines()) == rows


def test_an_interruption_removes_every_part_this_process_made_and_nothing_else(tmp_path):
    from batchkit.atomic import new_part, remove_own_parts

    fd, left = new_part(tmp_path / "a.jsonl")  # a writer stopped before it recorded its part
    os.close(fd)
    fd, renamed = new_part(tmp_path / "b.jsonl")  # one put in place: the file is no longer a part
    os.close(fd)
    os.replace(renamed, tmp_path / "b.jsonl")
    other = tmp_path / ".c.jsonl.1.abcdefgh.part"  # not ours
    other.write_text("x")
    remove_own_parts()
    assert not left.exists() and (tmp_path / "b.jsonl").exists() and other.exists()


def test_a_signal_another_thread_receives_still_waits_for_the_held_block():
    """Libraries start threads (pyarrow's allocator has one) and a process's SIGTERM may reach any of them;
    Python then runs the handler in the main thread at once. Making a part file and recording it must
    still be one step: the signal acts when the block ends, not inside it."""
    from batchkit.atomic import interrupt, signals_held

    previous = signal.signal(signal.SIGTERM, interrupt)  # as the CLI sets it
    reached = []
    other = threading.Thread(target=time.sleep, args=(0.3,))
    try:
        with pytest.raises(KeyboardInterrupt):
            with signals_held():
                other.start()
                signal.pthread_kill(other.ident, signal.SIGTERM)
                for _ in range(200):  # many chances for the handler to run inside the block
                    time.sleep(0.001)
                reached.append("the end of the block")
            reached.append("past it")
        assert reached == ["the end of the block"]
    finally:
        signal.signal(signal.SIGTERM, previous)
        other.join()
        forget_interruptions()


def forget_interruptions():
    from batchkit import atomic

    atomic._INTERRUPTED.clear()


def swallow_an_interruption():
    """What C code of a library that runs Python code and clears its errors does to a SIGTERM's
    KeyboardInterrupt (Python raises it wherever the main thread is): nothing is seen of it."""
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(200):  # many chances for the handler to run in here
            time.sleep(0.001)
    except BaseException:
        pass


def test_an_interruption_a_library_swallowed_still_stops_the_commit(tmp_path):
    """Python raises the KeyboardInterrupt of a signal wherever the main thread is, and C code of a library
    that runs Python code may clear it as it would any error (a SIGTERM then went unseen, and a build
    finished with exit 0). `interrupt` remembers it: nothing is committed after it."""
    from batchkit.atomic import atomic_write, interrupt
    from batchkit.batchfile.shards import ShardWriter

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        with pytest.raises(KeyboardInterrupt):
            with atomic_write(tmp_path / "out.csv") as f:
                swallow_an_interruption()
                f.write(b"a,b\n")
        with pytest.raises(KeyboardInterrupt), ShardWriter(tmp_path / "out.jsonl") as shards:
            shards.add(b'{"custom_id": "a"}\n')
            shards.commit()
        assert sorted(p.name for p in tmp_path.iterdir()) == []
    finally:
        signal.signal(signal.SIGTERM, previous)
        forget_interruptions()


def test_a_command_that_returns_after_a_swallowed_interruption_exits_130(tmp_path, monkeypatch):
    """A command that writes nothing still says it was interrupted (exit 130), not success."""
    from click.testing import CliRunner

    import batchkit.validate
    from batchkit.atomic import interrupt
    from batchkit.cli import cli

    checked = batchkit.validate.validate_file

    def validate_file(*args, **kwargs):
        swallow_an_interruption()
        return checked(*args, **kwargs)

    monkeypatch.setattr(batchkit.validate, "validate_file", validate_file)
    path = write_inputs(tmp_path / "w", rows=3) / "b.jsonl"
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        result = CliRunner().invoke(cli, ["validate", str(path)])
    finally:
        signal.signal(signal.SIGTERM, previous)
        forget_interruptions()
    assert result.exit_code == 130, result.output
    assert "interrupted" in result.output
