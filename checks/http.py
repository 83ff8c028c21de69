"""HTTP checks: is an endpoint answering, and with the status we expect."""

from __future__ import annotations

import functools
import time

import httpx
from pydantic import Field, HttpUrl

from lifeboat.errors import CheckFailed
from lifeboat.registry import Params, StepContext, StepOutput, registry


class HttpStatusParams(Params):
    url: HttpUrl = Field(description="The URL to GET")
    expect: list[int] = Field([200], min_length=1, description="Acceptable status codes")
    timeout: float = Field(10.0, gt=0, le=300, description="Seconds for the whole request")
    verify_tls: bool = Field(True, description="Verify the server's TLS certificate")


@functools.cache
def _client(verify_tls: bool) -> httpx.Client:
    """One shared client per TLS setting: a new client loads the whole CA bundle (about
    60 ms a check). No kept-alive connections: a health check should open a fresh one, as a
    user would, and nothing is left open between runs. httpx clients are thread-safe."""
    return httpx.Client(
        verify=verify_tls, follow_redirects=False, limits=httpx.Limits(max_keepalive_connections=0)
    )


@registry.check("http.status")
def http_status(params: HttpStatusParams, ctx: StepContext) -> StepOutput:
    """GET a URL and require one of the expected status codes."""
    url = str(params.url)
    started = time.perf_counter()
    try:
        response = _client(params.verify_tls).get(url, timeout=params.timeout)
    except httpx.HTTPError as exc:
        raise CheckFailed(f"request failed: {exc.__class__.__name__}: {exc}", target=url) from exc
    elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
    evidence = {"url": url, "status": response.status_code, "elapsed_ms": elapsed_ms}
    if response.status_code not in params.expect:
        raise CheckFailed(
            f"status {response.status_code}, expected {' or '.join(map(str, params.expect))}",
            target=url,
            evidence=evidence,
        )
    return StepOutput(
        summary=f"{url} answered {response.status_code} in {elapsed_ms} ms", evidence=evidence
    )
