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


class HttpWaitHealthyParams(Params):
    url: HttpUrl = Field(description="The URL to GET")
    expect: list[int] = Field([200], min_length=1, description="Status codes that count as healthy")
    contains: str | None = Field(None, description="Text a healthy answer's body must contain")
    interval: float = Field(2.0, gt=0, le=300, description="Seconds between two attempts")
    timeout: float = Field(300.0, gt=0, le=86400, description="Seconds the whole wait may take")
    consecutive: int = Field(1, ge=1, le=1000, description="Healthy answers needed in a row")
    verify_tls: bool = Field(True, description="Verify the server's TLS certificate")


#: Seconds one attempt may take at most (less when the wait's deadline is nearer).
_ATTEMPT_TIMEOUT = 10.0


def _attempt(
    params: HttpWaitHealthyParams, url: str, seconds: float
) -> tuple[bool, str, int | None]:
    """One GET: (healthy?, what it answered, status). A refused or timed-out connection is
    an unhealthy answer: what we are waiting for is precisely the server coming up."""
    try:
        response = _client(params.verify_tls).get(url, timeout=seconds)
    except httpx.HTTPError as exc:
        return False, f"{exc.__class__.__name__}: {exc}", None
    status = response.status_code
    if status not in params.expect:
        return False, f"status {status}", status
    if params.contains is not None and params.contains not in response.text:
        return False, f"status {status} without {params.contains!r} in the body", status
    return True, f"status {status}", status


@registry.check("http.wait_healthy")
def http_wait_healthy(params: HttpWaitHealthyParams, ctx: StepContext) -> StepOutput:
    """Poll a URL until it answers healthy (status, body text) or the timeout passes."""
    url = str(params.url)
    started = time.monotonic()
    deadline = started + params.timeout
    attempts = streak = 0
    said = ""
    while True:
        attempts += 1
        seconds = max(min(_ATTEMPT_TIMEOUT, deadline - time.monotonic()), 0.1)
        healthy, said_now, status = _attempt(params, url, seconds)
        streak = streak + 1 if healthy else 0
        if said_now != said:  # log changes only: a 5-minute wait is not 150 identical lines
            ctx.log(f"{url}: attempt {attempts}: {said_now}")
        said = said_now
        elapsed = round(time.monotonic() - started, 1)
        evidence = {
            "url": url,
            "attempts": attempts,
            "seconds": elapsed,
            "status": status,
            "last": said,
            "consecutive": streak,
        }
        if streak >= params.consecutive:
            return StepOutput(
                summary=f"{url} healthy ({said}) after {attempts} attempt"
                f"{'s' if attempts > 1 else ''} in {elapsed} s",
                evidence=evidence,
            )
        if time.monotonic() + params.interval > deadline:
            needed = (
                f", {streak} of {params.consecutive} in a row" if params.consecutive > 1 else ""
            )
            raise CheckFailed(
                f"not healthy after {attempts} attempts in {elapsed} s{needed}; last: {said}",
                target=url,
                evidence=evidence,
            )
        time.sleep(params.interval)
