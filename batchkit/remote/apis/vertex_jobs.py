"""Vertex AI batch prediction through the official `google-genai` SDK in Vertex mode, with the input staged in
Cloud Storage (`gcsfs`).

The `{request}` file is staged as `PREFIX/<sha256>.jsonl` (a re-run finds it there), the job is created with
`batches.create(model=…, src="gs://…", config={"display_name", "dest": "PREFIX/output/"})` in the project
and location named, and Vertex writes `predictions*.jsonl` into a folder of its own under the destination
(the job's `outputInfo.gcsOutputDirectory`), one `{request, response}` or `{request, status}` line per request
that ran; they are downloaded, joined, as NAME.output.jsonl. The job keeps no metadata, but its display
name holds the content's sha256 (as for the Gemini API). Credentials are Google's application default
credentials, found by the SDK and gcsfs; batchkit never reads them.

Sources: googleapis/python-genai `google/genai/batches.py` (Vertex: batchPredictionJobs create / get /
list / cancel, `_BatchJob_from_vertex`: completionStats, outputInfo), `_api_client.py` (project, location,
`GOOGLE_CLOUD_PROJECT` / `GOOGLE_CLOUD_LOCATION`, the regional address); the Vertex AI guide "Batch
prediction from Cloud Storage" (output folder, `status` of failed rows).
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

from ...errors import UsageError
from ...lenient import as_int
from ...words import Meta, Option, Text
from ..client import Place, ResultFile
from ..records import FILE_KEY, SHA_KEY, BytesMoved, Model, RemoteFile
from .gemini_batches import GeminiBatches, display_name, parse_batch
from .storage import Bucket, google_credentials, joined

DEFAULT_LOCATION = "us-central1"  # where Vertex's batch guide runs its examples; GOOGLE_CLOUD_LOCATION wins
PREDICTIONS = "predictions"  # the files Vertex writes its result lines to start with this
MODEL_PREFIX = "publishers/google/models/"


def own_address(location: str) -> str:
    """Vertex's address for a location (the global one has no region in its host)."""
    return (
        "https://aiplatform.googleapis.com"
        if location == "global"
        else f"https://{location}-aiplatform.googleapis.com"
    )


def parse_job(job):
    """A BatchPredictionJob as a Batch: its number as the id, the output folder as the output."""
    batch = parse_batch(job)
    batch.id = str(job.name).rsplit("/", 1)[-1]
    batch.model = (batch.model or "").removeprefix(MODEL_PREFIX) or None
    info = job.output_info
    batch.output_file_id = info.gcs_output_directory if info is not None else None
    sources = job.src.gcs_uri if job.src is not None else None
    batch.input_file_id = sources[0] if sources else None
    stats = job.completion_stats
    if stats is not None:
        done, failed = as_int(stats.successful_count) or 0, as_int(stats.failed_count) or 0
        batch.completed, batch.failed = done, failed
        batch.total = done + failed + (as_int(stats.incomplete_count) or 0)
    return batch


class VertexJobs(GeminiBatches):
    api = "vertex"
    extra = "vertex"
    sdk_paths = ("/v1beta1", "/v1")  # the SDK adds its API version itself
    leaves_unrun_out = True
    _parse = staticmethod(parse_job)
    batch_name = re.compile(r"[0-9]+|projects/[^/]+/locations/[^/]+/batchPredictionJobs/[^/]+")
    batch_name_form = "the job's number"

    @classmethod
    def scope(cls, place: Place) -> tuple[str, str | None]:
        """projects/P/locations/L: the project named (or $GOOGLE_CLOUD_PROJECT), the location named (or
        $GOOGLE_CLOUD_LOCATION, or us-central1)."""
        if place.region:
            raise UsageError("Vertex AI takes a --location (and a --project), not a --region")
        project = place.project or os.environ.get("GOOGLE_CLOUD_PROJECT")
        if not project:
            raise UsageError(
                "Vertex AI runs batches in a project: pass --project P (or set GOOGLE_CLOUD_PROJECT)"
            )
        location = place.location or os.environ.get("GOOGLE_CLOUD_LOCATION") or DEFAULT_LOCATION
        return f"projects/{project}/locations/{location}", own_address(location)

    def _client(self, genai, attempts: int):
        _, project, _, location = self.target.scope.split("/")
        options = {"timeout": int(self.timeout * 1000), "retry_options": {"attempts": attempts}}
        if self.target.base_url != own_address(location):
            options["base_url"] = self.target.base_url + "/"
        return genai.Client(vertexai=True, project=project, location=location, http_options=options)

    @contextlib.contextmanager
    def _calling(self, action: str):
        with google_credentials(), super()._calling(action):  # the SDK looks for them as it first asks
            yield

    def __init__(self, target, *, max_retries: int = 2, timeout: float = 600.0):
        super().__init__(target, max_retries=max_retries, timeout=timeout)
        self._gcs: Bucket | None = None

    @property
    def _bucket(self) -> Bucket:
        if self._gcs is None:  # opened when first needed: status and list read no bucket
            self._gcs = Bucket("gs")
        return self._gcs

    def _stage_prefix(self) -> str:
        staging = self.target.staging
        if staging is None:
            raise UsageError("Vertex AI reads a batch from Cloud Storage: pass --stage gs://BUCKET/PREFIX/")
        return staging.prefix

    def upload(self, path: Path, progress: BytesMoved | None = None) -> RemoteFile:
        return self._bucket.stage(path, self._stage_prefix(), progress)

    def file(self, file_id: str) -> RemoteFile:
        return self._bucket.staged(file_id)

    def remove_file(self, file_id: str) -> bool:
        return self._bucket.remove(file_id)

    def create_batch(self, order):
        if not order.model:
            raise UsageError(
                Text(
                    "Vertex AI takes the model on the job: pass ",
                    Option("model", Meta("NAME")),
                    " (e.g. gemini-2.5-flash)",
                )
            )
        self.refuse_metadata(order.metadata, (SHA_KEY, FILE_KEY))
        config = {
            "display_name": display_name(order.metadata),
            "dest": joined(self._stage_prefix(), "output") + "/",
        }
        with self._calling("creating the batch"):
            job = self._once.batches.create(model=order.model, src=order.file_id, config=config)
        return self._parse(job)

    def results(self, batch) -> list[ResultFile]:
        """The output folder: every predictions file in it, read as one."""
        return [ResultFile("output", batch.output_file_id)] if batch.output_file_id else []

    def download(self, result: ResultFile, sink, progress: BytesMoved | None = None) -> int:
        written = 0
        for url in self._bucket.listing(result.ref):
            if url.rsplit("/", 1)[-1].startswith(PREDICTIONS):
                written += self._bucket.copy(url, sink, progress, written)
        return written

    def models(self) -> list[Model]:
        raise UsageError("Vertex AI's models are listed in its Model Garden; name one with --model")
