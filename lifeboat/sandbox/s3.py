"""A moto server: S3 in every region and Route 53, over real HTTP, on one loopback port.

Lifeboat's backup checks and DNS failover talk to AWS through boto3 with an endpoint URL;
pointing that URL at a moto process exercises the very same code paths (signing, XML,
pagination, errors) without an account or network. moto runs as a separate process
(``python -m moto.server``) rather than in a thread, so a test can kill it to see how a
check behaves when the object store is down, and so the CLI can stop it by pid.

boto3 ships no type stubs and the project installs none, so clients are typed ``Any``.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from lifeboat.sandbox.errors import SandboxError
from lifeboat.sandbox.process import ProcessService

DEFAULT_REGION = "eu-west-3"
#: moto accepts any credentials; these are the conventional dummies, never real secrets.
DUMMY_ACCESS_KEY = "testing"
DUMMY_SECRET_KEY = "testing"  # noqa: S105 - a placeholder moto accepts, not a secret


def aws_env(endpoint_url: str, region: str = DEFAULT_REGION) -> dict[str, str]:
    """Environment that sends every boto3 client to ``endpoint_url`` with dummy credentials.

    Instance metadata lookups are disabled: without that, a misconfigured client could try
    169.254.169.254, and no traffic may leave the loopback interface.
    """
    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ACCESS_KEY_ID": DUMMY_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": DUMMY_SECRET_KEY,
        "AWS_DEFAULT_REGION": region,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def aws_client(service: str, *, endpoint_url: str, region: str = DEFAULT_REGION) -> Any:
    """A boto3 client for ``service`` in ``region`` against ``endpoint_url``.

    Credentials are passed explicitly, so neither ``~/.aws`` nor the caller's environment
    can point a sandbox client at a real account. S3 uses path-style addresses because
    virtual-host style (``bucket.127.0.0.1``) cannot resolve on loopback. Retries are kept
    low: a sandbox that is down should fail a test quickly, not after a minute of backoff.
    boto3 is imported here, not at the top, so ``lifeboat sandbox status`` starts fast.
    """
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(
        aws_access_key_id=DUMMY_ACCESS_KEY,
        aws_secret_access_key=DUMMY_SECRET_KEY,
        region_name=region,
    )
    config = Config(
        s3={"addressing_style": "path"},
        retries={"max_attempts": 2, "mode": "standard"},
        connect_timeout=5,
        read_timeout=30,
        proxies={},
    )
    return session.client(service, endpoint_url=endpoint_url, config=config)


class MotoServer(ProcessService):
    """``python -m moto.server`` on 127.0.0.1; its log is ``<state_dir>/moto.log``.

    One endpoint serves every service and region: moto routes by the request's signature
    (service and region are part of it), which is how real S3 buckets in eu-west-3 and
    eu-central-1 and a Route 53 zone can all live on one port.
    """

    service = "moto"

    def __init__(
        self,
        state_dir: Path,
        *,
        port: int | None = None,
        die_with_parent: bool = True,
        timeout: float = 30.0,
        auth_after: int | None = None,
    ) -> None:
        """``auth_after=N`` makes moto check credentials (IAM) after its first N requests,
        which leaves room to create a user and its key: tests of refused credentials."""
        self.state_dir = state_dir
        self.auth_after = auth_after
        super().__init__(
            state_dir / "moto.log", port=port, die_with_parent=die_with_parent, timeout=timeout
        )

    @property
    def url(self) -> str:
        """The endpoint URL for boto3 (``AWS_ENDPOINT_URL``)."""
        return f"http://{self.host}:{self.port}"

    #: Text that identifies our process in ``/proc/PID/cmdline`` (see ``terminate_pid``).
    marker = "moto.server"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(self.port)]

    def environment(self) -> dict[str, str] | None:
        if self.auth_after is None:
            return None
        return {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": str(self.auth_after)}

    def probe(self) -> bool:
        """moto's own dashboard API answers 200 once Flask serves requests."""
        return self._request("GET", "/moto-api/", timeout=1.0) == 200

    def healthy(self) -> bool:
        """Whether the server runs and answers now (for status reports and tests)."""
        return self.running and self.probe()

    def reset(self) -> None:
        """Forget every bucket, zone and object: a clean slate for one test."""
        if self._request("POST", "/moto-api/reset", timeout=10.0) != 200:
            raise SandboxError(f"moto at {self.url} did not accept a reset")

    def client(self, service: str, region: str = DEFAULT_REGION) -> Any:
        """A boto3 client for ``service`` in ``region`` against this server."""
        return aws_client(service, endpoint_url=self.url, region=region)

    def env(self, region: str = DEFAULT_REGION) -> dict[str, str]:
        """The AWS variables a separate process needs to use this server."""
        return aws_env(self.url, region)

    def _request(self, method: str, path: str, *, timeout: float) -> int | None:
        # The URL is always http://127.0.0.1:PORT built above, never user input.
        request = urllib.request.Request(f"{self.url}{path}", method=method)  # noqa: S310
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=timeout) as response:
                status: int = response.status
                return status
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            return None
