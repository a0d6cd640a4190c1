"""A small user script of the Python API, type-checked by the test suite (mypy --strict; never run):
editors and type checkers see batchkit's real types through `import batchkit`."""

from __future__ import annotations

from pathlib import Path

import batchkit


def answers(rows: list[dict[str, str]], base_url: str) -> int:
    built: batchkit.BuiltRequests = batchkit.build_requests(rows, model="m", user="{q}")
    report: batchkit.Report = batchkit.validate_requests(built, provider="openai")
    if not report.valid:
        return len(report.findings)
    jobs: batchkit.Submission = batchkit.submit(built, base_url=base_url, wait=True, interval=1.0)
    job: batchkit.BatchJob = jobs[0]
    status: str = job.status().status
    downloaded: batchkit.DownloadResult = job.download(out_dir=Path("results"))
    files: list[Path] = jobs.results()
    merged: batchkit.MergeResult = batchkit.merge_results(jobs.paths, files)
    missing: list[str] = merged.report.missing
    run: batchkit.RunResult = batchkit.run(jobs.paths[0], base_url=base_url, output="out.jsonl")
    written: list[Path] = batchkit.write_batch(list(built), "batch.jsonl")
    return len(missing) + run.failed + len(written) + len(status) + len(downloaded.files)
