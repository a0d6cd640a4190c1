"""AWS Bedrock batch inference through the official `boto3` SDK, with the input staged in S3 (`s3fs`).

The `{recordId, modelInput}` file is staged as `PREFIX/<sha256>.jsonl` (a re-run finds it there), the job is
created with `create_model_invocation_job` (the model, the service role Bedrock reads and writes the bucket
with, `PREFIX/output/` as the output, batchkit's idempotency key as `clientRequestToken`, so a repeated
create returns the first job), followed with `get_` / `list_model_invocation_jobs` and stopped with
`stop_model_invocation_job`. Bedrock writes `OUTPUT/<job id>/<input name>.out` (one `{recordId, modelInput,
modelOutput}` or `{…, error}` line per record that ran) and `manifest.json.out` (record and token counts),
downloaded as NAME.output.jsonl and NAME.manifest.json.out. The job's name carries the content's sha256
(its first 40 characters: a name has at most 63). Credentials come from boto3's own chain; batchkit never
reads them.

Sources: botocore `data/bedrock/2023-04-20/service-2.json` (operations, shapes, patterns, statuses); the
Bedrock user guide: batch-inference-data (quotas), batch-inference-results (output layout, manifest).
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import re
from collections.abc import Iterator
from pathlib import Path

from ...errors import UsageError
from ...lenient import as_dict, as_int, as_list
from ...words import Meta, Option, Text
from ..client import (
    ANSWERED,
    SHAPE_ERRORS,
    TIMEOUT,
    UNREACHABLE,
    Client,
    Failure,
    Place,
    ResultFile,
    other_failure,
)
from ..records import (
    ENDED_AT,
    FILE_KEY,
    SHA_KEY,
    Batch,
    BatchError,
    BytesMoved,
    Model,
    RemoteFile,
    text_or_none,
)
from .sdk import sdk
from .storage import Bucket, joined

STATES = {
    "Submitted": "validating",
    "Validating": "validating",
    "Scheduled": "validating",
    "InProgress": "in_progress",
    "Completed": "completed",
    "PartiallyCompleted": "completed",
    "Failed": "failed",
    "Stopping": "cancelling",
    "Stopped": "cancelled",
    "Expired": "expired",
}
NAME_PREFIX = "batchkit-"
NAME_SHA = 40  # characters of the sha256 in a job's name (9 + 40 + 1 + 12 ≤ 63)
OUT = ".out"
MANIFEST = "manifest.json.out"


@functools.cache
def s3_uri() -> re.Pattern:
    """The S3 addresses Bedrock's jobs take: the pattern of its S3Uri, from botocore's service model."""
    model = sdk("botocore.session", "bedrock").get_session().get_service_model("bedrock")
    return re.compile(model.shape_for("S3Uri").metadata["pattern"])


def own_address(region: str) -> str:
    return f"https://bedrock.{region}.amazonaws.com"


def job_name(sha256: str, idempotency_key: str) -> str:
    """batchkit-<sha256 head>-<the submission's key tail>: the content, and which submission of it."""
    return f"{NAME_PREFIX}{sha256[:NAME_SHA]}-{idempotency_key[-12:]}"


def _epoch(moment) -> int | None:
    return int(moment.timestamp()) if isinstance(moment, datetime.datetime) else None


def parse_job(job: dict) -> Batch:
    """A job as boto3 gives it (fields of another shape read as absent)."""
    raw = str(job.get("status"))
    state = STATES.get(raw, "unknown")
    job_id = str(job.get("jobArn", "")).rsplit("/", 1)[-1]
    times = {"created_at": _epoch(job.get("submitTime"))}
    if state in ENDED_AT:
        times[ENDED_AT[state]] = _epoch(job.get("endTime") or job.get("lastModifiedTime"))
    output = text_or_none(
        as_dict(as_dict(job.get("outputDataConfig")).get("s3OutputDataConfig")).get("s3Uri")
    )
    name = str(job.get("jobName") or "")
    marker = name.removeprefix(NAME_PREFIX).split("-")[0] if name.startswith(NAME_PREFIX) else ""
    message = job.get("message")
    return Batch(
        id=job_id,
        status=state,
        input_file_id=text_or_none(
            as_dict(as_dict(job.get("inputDataConfig")).get("s3InputDataConfig")).get("s3Uri")
        ),
        output_file_id=joined(output, job_id) + "/" if output and job_id else None,
        model=text_or_none(job.get("modelId")),
        total=as_int(job.get("totalRecordCount")) or 0,
        completed=as_int(job.get("successRecordCount")) or 0,
        failed=as_int(job.get("errorRecordCount")) or 0,
        times={k: v for k, v in times.items() if v is not None},
        errors=[BatchError(None, str(message))] if message and state in ("failed", "expired") else [],
        metadata={SHA_KEY: marker} if marker else {},
        provider_status=raw,
    )


def _failure(error) -> Failure:
    from botocore import exceptions

    if isinstance(error, exceptions.ClientError):
        details = error.response.get("Error", {})
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        message = f"{details.get('Code', 'Error')}: {details.get('Message') or error}"
        return Failure(ANSWERED, status, message, cause=error)
    if isinstance(error, (exceptions.ReadTimeoutError,)):
        return Failure(TIMEOUT, cause=error)
    if isinstance(error, (exceptions.EndpointConnectionError, exceptions.ConnectionError)):
        return Failure(UNREACHABLE, cause=error)
    return other_failure(error)


class BedrockJobs(Client):
    api = "bedrock"
    sdk_paths = ("/v1",)  # an OpenAI-style address (…/v1) names the same server: Bedrock's paths have none
    leaves_unrun_out = True

    @classmethod
    def scope(cls, place: Place) -> tuple[str, str | None]:
        """The region named, or the one boto3 finds (AWS_DEFAULT_REGION, the config file)."""
        if place.project or place.location:
            raise UsageError("Bedrock takes a --region, not a --project or --location")
        region = place.region
        if not region:
            boto3 = sdk("boto3", "bedrock")
            region = boto3.session.Session().region_name
        if not region:
            raise UsageError("Bedrock runs batches in a region: pass --region R (or set AWS_DEFAULT_REGION)")
        return region, own_address(region)

    def __init__(self, target, *, max_retries: int = 2, timeout: float = 600.0):
        super().__init__(target, max_retries=max_retries, timeout=timeout)  # no key: said before the import
        boto3 = sdk("boto3", "bedrock")
        from botocore.config import Config

        # the service's own address is left to boto3, which honours AWS_ENDPOINT_URL_BEDROCK and FIPS settings
        endpoint = None if target.base_url == own_address(target.scope) else target.base_url

        session = boto3.session.Session()  # its own: boto3's default one keeps the credentials it first found

        def client(attempts: int):
            config = Config(retries={"max_attempts": attempts, "mode": "standard"}, read_timeout=timeout)
            return session.client("bedrock", region_name=target.scope, endpoint_url=endpoint, config=config)

        self._sdk, self._once = client(max_retries + 1), client(1)  # creates are never repeated by the SDK
        self._s3: Bucket | None = None

    @contextlib.contextmanager
    def _calling(self, action: str):
        from botocore import exceptions

        try:
            yield
        except exceptions.NoCredentialsError:
            raise UsageError(
                f"{action}: boto3 found no AWS credentials (AWS_ACCESS_KEY_ID…, a profile, SSO or a role)"
            ) from None
        except (exceptions.ClientError, exceptions.BotoCoreError, *SHAPE_ERRORS) as e:
            raise _failure(e).error(self.target, action) from None

    @property
    def _bucket(self) -> Bucket:
        if self._s3 is None:  # opened when first needed: status and list read no bucket
            self._s3 = Bucket("s3")
        return self._s3

    def _staging(self):
        staging = self.target.staging
        if staging is None or not staging.role_arn:
            raise UsageError(
                "Bedrock reads a batch from S3 with a service role: pass --stage s3://BUCKET/PREFIX/ and "
                "--role-arn arn:aws:iam::ACCOUNT:role/NAME"
            )
        return staging

    # --- the protocol -----------------------------------------------------------------------------------

    def upload(self, path: Path, progress: BytesMoved | None = None) -> RemoteFile:
        prefix = self._staging().prefix
        if not s3_uri().fullmatch(joined(prefix, "output") + "/"):  # refused at the create, after staging
            raise UsageError(
                Text(
                    Option("stage", Meta(prefix)),
                    ": Bedrock takes an S3 address of a bucket and folders of letters, digits and -!_*'(). "
                    "only, one slash between them (its S3Uri pattern); give such a prefix",
                )
            )
        return self._bucket.stage(path, prefix, progress)

    def file(self, file_id: str) -> RemoteFile:
        return self._bucket.staged(file_id)

    def remove_file(self, file_id: str) -> bool:
        return self._bucket.remove(file_id)

    def create_batch(self, order) -> Batch:
        if not order.model:
            raise UsageError(
                Text(
                    "Bedrock takes the model on the job: pass ",
                    Option("model", Meta("ID")),
                    " (e.g. anthropic.claude-3-5-haiku-20241022-v1:0)",
                )
            )
        staging = self._staging()
        hours = as_int(order.completion_window.removesuffix("h"))
        tags = [{"key": k, "value": v} for k, v in order.metadata.items() if k != FILE_KEY]
        with self._calling("creating the batch"):
            created = self._once.create_model_invocation_job(
                jobName=job_name(order.metadata[SHA_KEY], order.idempotency_key),
                roleArn=staging.role_arn,
                clientRequestToken=order.idempotency_key,
                modelId=order.model,
                inputDataConfig={"s3InputDataConfig": {"s3InputFormat": "JSONL", "s3Uri": order.file_id}},
                outputDataConfig={"s3OutputDataConfig": {"s3Uri": joined(staging.prefix, "output") + "/"}},
                timeoutDurationInHours=hours,
                tags=tags,
            )
        return self.batch(created["jobArn"].rsplit("/", 1)[-1])

    def created_by(self, batch: Batch, lookup) -> bool:
        """The job's name holds the head of the content's sha256, and it reads the file staged for it."""
        marker = batch.metadata.get(SHA_KEY)
        return (
            bool(marker)
            and lookup.sha256.startswith(marker)
            and batch.input_file_id in (None, lookup.file_id)
        )

    def batch(self, batch_id: str) -> Batch:
        with self._calling(f"looking up batch {batch_id}"):
            job = self._sdk.get_model_invocation_job(jobIdentifier=batch_id)
        return parse_job(job)

    def cancel(self, batch_id: str) -> Batch:
        with self._calling(f"cancelling batch {batch_id}"):
            self._sdk.stop_model_invocation_job(jobIdentifier=batch_id)
        return self.batch(batch_id)

    def batches(self, page_size: int = 100) -> Iterator[Batch]:
        """Newest first, page by page."""
        token = None
        while True:
            asked = {"maxResults": page_size, "sortBy": "CreationTime", "sortOrder": "Descending"}
            with self._calling("listing batches"):
                page = self._sdk.list_model_invocation_jobs(
                    **asked, **({"nextToken": token} if token else {})
                )
            yield from (
                parse_job(job) for job in as_list(page.get("invocationJobSummaries")) if isinstance(job, dict)
            )
            token = page.get("nextToken")
            if not token:
                return

    def results(self, batch: Batch) -> list[ResultFile]:
        """Every .out file of the job's output folder (read as one), and its manifest."""
        if not batch.output_file_id:
            return []
        found = self._bucket.listing(batch.output_file_id)
        files = [ResultFile("output", batch.output_file_id)] if any(_is_output(u) for u in found) else []
        manifests = [url for url in found if url.endswith("/" + MANIFEST)]
        return files + [ResultFile("manifest", url) for url in manifests[:1]]

    def download(self, result: ResultFile, sink, progress: BytesMoved | None = None) -> int:
        if result.kind != "output":
            return self._bucket.copy(result.ref, sink, progress)
        written = 0
        for url in self._bucket.listing(result.ref):
            if _is_output(url):
                written += self._bucket.copy(url, sink, progress, written)
        return written

    def models(self) -> list[Model]:
        with self._calling("listing models"):
            listed = self._sdk.list_foundation_models(byInferenceType="ON_DEMAND")
        return [
            Model(id=m["modelId"], owned_by=text_or_none(m.get("providerName")))
            for m in as_list(listed.get("modelSummaries"))
            if isinstance(m, dict) and isinstance(m.get("modelId"), str)
        ]

    def close(self) -> None:
        for client in (self._sdk, self._once):
            with contextlib.suppress(AttributeError):
                client.close()


def _is_output(url: str) -> bool:
    return url.endswith(OUT) and not url.endswith("/" + MANIFEST)
