"""`make demo`: the whole round trip on this machine, with no key and no network.

Starts `batchkit serve --backend echo` on a free local port, then runs the commands a user would type —
build (when the builder is installed), validate, submit --wait, merge (when available) — each as its own
process, printing each command first. Everything goes to `demo-out/` (or the folder given); the server is
always stopped at the end.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

SEED_MODELS = (
    "meta-llama/Meta-Llama-3.1-8B-Instruct",
    "meta-llama/Meta-Llama-3.1-70B-Instruct",
    "meta-llama/Meta-Llama-3.1-405B-Instruct",
)
MARKER = ".batchkit-demo"
START_TIMEOUT = 30.0
STEP_TIMEOUT = 60.0


class DemoFailed(Exception):
    pass


def _samples() -> Path:
    for candidate in (Path.cwd() / "samples", Path(__file__).resolve().parent.parent / "samples"):
        if (candidate / "questions.csv").is_file():
            return candidate
    raise DemoFailed("the samples/ folder was not found; run the demo from a checkout of batchkit")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """In the server's process, before it starts: ask Linux to stop it if the demo itself is killed."""
    import ctypes
    import signal

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _stop_on_signals() -> None:
    """SIGTERM/SIGHUP end the demo through its `finally`, which stops the server."""
    import signal

    def stop(number, frame):
        raise SystemExit(128 + number)

    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), stop)


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _command() -> str:
    """How to type batchkit here: `batchkit` when that is this installation's script on PATH, else the
    script's own path (after `make demo` the venv is usually not activated), so shown commands paste as
    they are."""
    script = Path(sys.executable).with_name("batchkit")
    found = shutil.which("batchkit")
    if found and script.exists() and Path(found).resolve() == script.resolve():
        return "batchkit"
    return _shown(script) if script.exists() else f"{_shown(Path(sys.executable))} -m batchkit"


class Demo:
    def __init__(self, out: Path):
        self.out = out
        self.command = _command()
        self.env = {
            k: v for k, v in os.environ.items() if k not in ("BATCHKIT_PROVIDER", "BATCHKIT_BASE_URL")
        }
        # The demo keeps its ledger and server state in its own folder, not in the user's.
        self.env["BATCHKIT_HOME"] = str(out / "home")
        root = str(Path(__file__).resolve().parent.parent)
        self.env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, self.env.get("PYTHONPATH")]))
        self.server: subprocess.Popen | None = None
        self.log = None

    def run(self, *args, check: bool = True) -> int:
        """Show `batchkit ARGS` and run it as its own process."""
        args = [str(a) for a in args]
        print(f"\n$ {self.command} {shlex.join(args)}", flush=True)
        done = subprocess.run([sys.executable, "-m", "batchkit", *args], env=self.env, timeout=STEP_TIMEOUT)
        if check and done.returncode != 0:
            raise DemoFailed(f"`batchkit {args[0]}` exited with {done.returncode}")
        return done.returncode

    def start_server(self) -> str:
        port = _free_port()
        models = [a for m in SEED_MODELS for a in ("--model", m)]
        args = ["serve", "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(self.out / "server"),
                "--backend", "echo", *models]  # fmt: skip
        print(f"$ {self.command} {shlex.join(args)} &", flush=True)
        self.log = open(self.out / "server.log", "ab")
        self.server = subprocess.Popen(
            [sys.executable, "-m", "batchkit", *args],
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        root = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.server.poll() is not None:
                break
            try:
                with urllib.request.urlopen(root + "/", timeout=2):
                    return f"{root}/v1"
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        tail = (self.out / "server.log").read_text(errors="replace")[-2000:]
        raise DemoFailed(f"the local server did not start; its log ends with:\n{tail}")

    def stop_server(self) -> None:
        if self.server is not None and self.server.poll() is None:
            self.server.terminate()
            try:
                self.server.wait(10)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait()
        if self.log is not None:
            self.log.close()

    def round_trip(self) -> list[tuple[str, Path]]:
        samples = _samples()
        base_url = self.start_server()
        print(f"# a local OpenAI-compatible Batch API is running at {base_url} (echo answers, no key needed)")
        made: list[tuple[str, Path]] = []
        batch = self.out / "questions.jsonl"
        table = samples / "questions.csv"
        self.run("build", _shown(table), "-o", _shown(batch), "--model-column", "model",
                 "--system", "You are a helpful assistant.", "--user", "{question}",
                 "--id-column", "id", "--param", "max_tokens=200")  # fmt: skip
        made.append(("batch file, built from the table", batch))
        self.run("validate", _shown(batch), "--provider", "kluster")
        self.run("submit", _shown(batch), "--base-url", base_url, "--wait", "--interval", "0.5")
        for name, label in (("output", "results"), ("errors", "failed requests")):
            path = batch.with_name(f"{batch.stem}.{name}.jsonl")
            if path.is_file():
                made.append((label, path))
        self.run("list")
        merged = self.out / "answers.csv"
        results = [p for label, p in made if label in ("results", "failed requests")]
        self.run(
            "merge", _shown(batch), "--results", *map(_shown, results), "--source", _shown(table),
            "--id-column", "id", "-o", _shown(merged),
        )  # fmt: skip
        made.append(("answers joined to the questions", merged))
        return made


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m batchkit.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="demo-out", help="folder for everything the demo writes")
    options = parser.parse_args(argv)
    out = Path(options.out)
    if (out / MARKER).is_file():
        shutil.rmtree(out)  # the demo's own folder from an earlier run
    elif out.exists() and any(out.iterdir()):
        print(f"demo failed: {out} is not empty and not an earlier demo's folder; choose another --out",
              file=sys.stderr)  # fmt: skip
        return 2
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("made by `python -m batchkit.demo`; removed by its next run\n")
    started = time.monotonic()
    _stop_on_signals()
    demo = Demo(out)
    try:
        made = demo.round_trip()
    except (DemoFailed, subprocess.TimeoutExpired) as e:
        print(f"\ndemo failed: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ndemo stopped", file=sys.stderr)
        return 130
    finally:
        demo.stop_server()
    print(f"\n# done in {time.monotonic() - started:.1f} s; the local server is stopped. Files:")
    for label, path in made:
        print(f"#   {_shown(path):<40} {label}")
    if demo.command != "batchkit":
        print(
            f"# `batchkit` is not on your PATH: type {demo.command} as above, or `. .venv/bin/activate` first"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
