"""What a botocore error means for us: shared by the S3 (``storage``) and Route 53 (``dns``)
boundaries, so both say "access denied", "unreachable" or "absent" for the same causes.

Each boundary keeps its own error class and message; this only classifies.
"""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
    ReadTimeoutError,
)

#: Error codes (S3, Route 53, IAM/STS) that mean "these credentials may not do this".
DENIED = {
    "AccessDenied",
    "AccessDeniedException",
    "AllAccessDisabled",
    "InvalidAccessKeyId",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "TokenRefreshRequired",
    "UnrecognizedClientException",
    "403",
}
UNREACHABLE = (
    EndpointConnectionError,
    ConnectTimeoutError,
    ReadTimeoutError,
    ConnectionClosedError,
)


@dataclass(frozen=True)
class Failure:
    code: str  # access.*
    hint: str  # what to check, or ""
    why: str  # the service's code and message, or the exception's


def explain(exc: Exception, absent: dict[str, tuple[str, str]]) -> Failure:
    """Classify ``exc``; ``absent`` maps the service's "not found" codes to (code, hint)."""
    if not isinstance(exc, ClientError):
        why = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, UNREACHABLE):
            return Failure("access.unreachable", "the endpoint is down or unreachable", why)
        if isinstance(exc, NoCredentialsError | PartialCredentialsError):
            return Failure("access.no_credentials", "no AWS credentials found", why)
        return Failure("access.failed", "", why)
    error = exc.response.get("Error") or {}
    if not error.get("Code"):
        # moto answers a refused signature as <ErrorResponse><Errors><Error>, which
        # botocore's Route 53 parser leaves under "Errors"; with no code, the status.
        nested = exc.response.get("Errors")
        error = nested.get("Error", error) if isinstance(nested, dict) else error
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    vendor = str(error.get("Code") or status or "error")
    why = f"{vendor}: {error.get('Message', '')}".rstrip(": ")
    if vendor in DENIED:
        return Failure("access.denied", "credentials refused (check AWS_PROFILE or the keys)", why)
    code, hint = absent.get(vendor, ("access.failed", ""))
    return Failure(code, hint, why)
