"""Object storage for the Vertex AI and Bedrock tests, offline: S3 from moto's server mode
(`ThreadedMotoServer`) and Cloud Storage from `gcp-storage-emulator`, each a real HTTP server on 127.0.0.1
in this process, with a bucket each. `Emulators.env` is what batchkit, `batchkit serve` and the SDKs are
given, only through the settings their libraries read:

- AWS: test credentials in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, a region in AWS_DEFAULT_REGION, S3's
  address in AWS_ENDPOINT_URL_S3 (boto3 and s3fs read it);
- Google: a fake application-default-credentials file (an authorized user whose access token is already
  issued and valid for centuries, so no token endpoint is ever asked), GOOGLE_CLOUD_PROJECT, and
  STORAGE_EMULATOR_HOST (gcsfs reads it); NO_GCE_CHECK and a closed metadata address keep google-auth from
  looking for a cloud machine's metadata server anywhere.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

S3_BUCKET = "batchkit-bedrock"
GCS_BUCKET = "batchkit-vertex"
ROLE_ARN = "arn:aws:iam::123456789012:role/BatchInference"
PROJECT = "batchkit-test"
LOCATION = "us-central1"
REGION = "us-east-1"
ACCESS_KEY = "AKIATESTBATCHKIT0001"
SECRET_KEY = "test-secret-key-for-the-emulated-account"
TOKEN = "ya29.batchkit-test-token"  # the fake ADC's access token; serve requires it with --api-key-env


@dataclass
class Emulators:
    s3_url: str
    gcs_url: str
    env: dict[str, str] = field(default_factory=dict)


def _adc(folder: Path) -> Path:
    path = folder / "application_default_credentials.json"
    path.write_text(json.dumps({
        "type": "authorized_user", "client_id": "batchkit-test", "client_secret": "batchkit-test",
        "refresh_token": "batchkit-test", "token": TOKEN, "expiry": "2999-01-01T00:00:00Z",
    }))  # fmt: skip
    return path


@contextlib.contextmanager
def emulators(folder: Path, s3_bucket: str = S3_BUCKET, gcs_bucket: str = GCS_BUCKET) -> Iterator[Emulators]:
    """Both storage emulators, each with its bucket, until the block ends."""
    from gcp_storage_emulator.server import create_server
    from moto.server import ThreadedMotoServer

    s3 = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    s3.start()
    host, port = s3.get_host_and_port()
    gcs = create_server("127.0.0.1", 0, in_memory=True, default_bucket=gcs_bucket)
    gcs.start()
    found = Emulators(f"http://{host}:{port}", f"http://127.0.0.1:{gcs._api._httpd.server_address[1]}")
    found.env = {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL_S3": found.s3_url, "AWS_EC2_METADATA_DISABLED": "true",
        "GOOGLE_APPLICATION_CREDENTIALS": str(_adc(folder)), "GOOGLE_CLOUD_PROJECT": PROJECT,
        "STORAGE_EMULATOR_HOST": found.gcs_url, "NO_GCE_CHECK": "true",
        "GCE_METADATA_HOST": "127.0.0.1:9", "GCE_METADATA_IP": "127.0.0.1:9",
    }  # fmt: skip
    import boto3

    boto3.client("s3", endpoint_url=found.s3_url, region_name=REGION, aws_access_key_id=ACCESS_KEY,
                 aws_secret_access_key=SECRET_KEY).create_bucket(Bucket=s3_bucket)  # fmt: skip
    try:
        yield found
    finally:
        gcs.stop()
        s3.stop()
