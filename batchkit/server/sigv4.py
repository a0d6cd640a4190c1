"""AWS Signature Version 4, checked as an AWS service checks it, for the Bedrock routes: the signature is
computed again with botocore's own signer (`SigV4Auth`) over the request as it arrived — the signed
headers, the path and query as sent, the body — and compared in constant time.

The credentials accepted are the emulated account's: the key pair the server's own AWS credential chain
finds (`AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`, a profile …), read by botocore, never logged. A
request that is unsigned, signed with another access key, for another service, more than five minutes off
the server's clock, or whose signature does not match is refused with the error AWS gives.
"""

from __future__ import annotations

import datetime
import hmac
import re

SERVICE = "bedrock"
ALGORITHM = "AWS4-HMAC-SHA256"
SKEW = datetime.timedelta(minutes=5)  # how far a request's X-Amz-Date may be from the server's clock
AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=([^/,\s]+)/(\d{8})/([^/,\s]+)/([^/,\s]+)/aws4_request,\s*"
    r"SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]{64})$"
)
MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
    "Access Key and signing method. Consult the service documentation for details."
)


class Refused(Exception):
    """A request AWS would refuse: (exception name, message), answered with 403."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind, self.message = kind, message


def account_credentials():
    """The key pair of the emulated account (botocore's chain), or None when it finds none."""
    import botocore.session

    found = botocore.session.get_session().get_credentials()
    return found.get_frozen_credentials() if found is not None else None


def check(method: str, url: str, headers: dict[str, str], body: bytes, credentials, now=None) -> None:
    """Raise Refused unless the request is signed with `credentials` for Bedrock. `url`: scheme, host, the
    path and query as sent; `headers`: lower-case names."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    given = headers.get("authorization")
    if not given:
        raise Refused("MissingAuthenticationTokenException", "Missing Authentication Token")
    parsed = AUTHORIZATION.match(given.strip())
    if parsed is None:
        raise Refused(
            "IncompleteSignatureException", f"Authorization header requires {ALGORITHM} parameters."
        )
    access_key, day, region, service, signed, signature = parsed.groups()
    if credentials is None or not hmac.compare_digest(access_key, credentials.access_key):
        raise Refused("UnrecognizedClientException", "The security token included in the request is invalid.")
    if service != SERVICE:
        raise Refused(
            "InvalidSignatureException", f"Credential should be scoped to correct service: '{SERVICE}'."
        )
    stamp = headers.get("x-amz-date", "")
    _check_time(stamp, day, now or datetime.datetime.now(datetime.UTC))
    names = signed.split(";")
    if "host" not in names or any(name not in headers for name in names):
        raise Refused("InvalidSignatureException", MISMATCH)
    request = AWSRequest(method=method, url=url, headers={name: headers[name] for name in names}, data=body)
    request.context["timestamp"] = stamp
    signer = SigV4Auth(Credentials(credentials.access_key, credentials.secret_key), service, region)
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    if not hmac.compare_digest(expected, signature):
        raise Refused("InvalidSignatureException", MISMATCH)


def _check_time(stamp: str, day: str, now: datetime.datetime) -> None:
    try:
        when = datetime.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.UTC)
    except ValueError:
        raise Refused(
            "IncompleteSignatureException", "Authorization header requires a valid X-Amz-Date."
        ) from None
    if stamp[:8] != day:
        raise Refused(
            "InvalidSignatureException",
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP.",
        )
    if abs(now - when) > SKEW:
        limit = (now - SKEW).strftime("%Y%m%dT%H%M%SZ")
        raise Refused(
            "InvalidSignatureException",
            f"Signature expired: {stamp} is now earlier than {limit} (or later than allowed).",
        )
