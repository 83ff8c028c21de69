"""TCP checks: does something accept connections on a port."""

from __future__ import annotations

import socket
import time

from pydantic import Field

from lifeboat.errors import CheckFailed
from lifeboat.registry import Params, StepContext, StepOutput, registry


class TcpOpenParams(Params):
    host: str = Field(min_length=1, description="Host name or address")
    port: int = Field(ge=1, le=65535)
    timeout: float = Field(5.0, gt=0, le=300, description="Seconds to wait for the connection")


@registry.check("tcp.open")
def tcp_open(params: TcpOpenParams, ctx: StepContext) -> StepOutput:
    """Require that a TCP connection to host:port is accepted."""
    target = f"{params.host}:{params.port}"
    started = time.perf_counter()
    try:
        with socket.create_connection((params.host, params.port), timeout=params.timeout):
            pass
    except TimeoutError as exc:
        raise CheckFailed(f"no answer within {params.timeout:g} s", target=target) from exc
    except OSError as exc:
        raise CheckFailed(f"connection failed: {exc.strerror or exc}", target=target) from exc
    elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
    return StepOutput(
        summary=f"{target} accepted a connection in {elapsed_ms} ms",
        evidence={"target": target, "elapsed_ms": elapsed_ms},
    )
