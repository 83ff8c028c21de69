"""Security by default, checked on a full demo run (``demo_run``, tests/conftest.py).

Planted secrets: the Prefect API's auth string (a setting, ``LIFEBOAT_PREFECT_API_AUTH_STRING``)
and the on-call webhook's token (in a channel URL, ``LIFEBOAT_SECRET_ONCALL_WEBHOOK``); a
parameter carrying a secret is refused before anything records it. Then every file the demo
left under its home (journals, digests, reviews, logs, mails, the Prefect database), every
object in its S3 (status page, write-once journal copies) and what the Prefect API serves
(logs, artifacts, flow-run parameters) is scanned for them.
"""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lifeboat.sandbox.s3 import aws_client
from tests.conftest import DemoRun, demo_cli

#: Where a planted secret may rightly be: the sandbox's own state (0600, it *is* the
#: configuration) and the webhook receiver's inbox (the destination the token addresses).
ALLOWED = ("sandbox/sandbox.json", "sandbox/webhooks/")
#: Items per read of the Prefect API. It answers at most 200 (``read_logs`` and the other
#: ``/filter`` routes refuse a higher ``limit``: PREFECT_SERVER_API_DEFAULT_LIMIT), so a scan
#: of everything reads page after page. Smaller than that cap, so that the demo's ~70 logs
#: span pages and the paging itself is exercised on every run.
PAGE = 50


def planted(demo_run: DemoRun) -> dict[str, str]:
    token = demo_run.state.env["LIFEBOAT_SECRET_ONCALL_WEBHOOK"].rsplit("/", 1)[-1]
    return {"auth string": demo_run.auth_string, "webhook token": token}


def files(home: Path) -> Iterator[Path]:
    for path in sorted(home.rglob("*")):
        relative = path.relative_to(home).as_posix()
        if path.is_file() and not relative.startswith(ALLOWED):
            yield path


def test_the_planted_secrets_were_really_used(demo_run: DemoRun) -> None:
    """Otherwise the scans below could not fail."""
    ui = demo_run.service("prefect")
    assert httpx.get(f"{ui}/api/flow_runs/filter", timeout=10).status_code in (401, 405)
    denied = httpx.post(f"{ui}/api/flow_runs/filter", json={}, timeout=10)
    assert denied.status_code == 401
    allowed = httpx.post(f"{ui}/api/flow_runs/filter", json={}, auth=demo_run.api_auth, timeout=10)
    assert allowed.status_code == 200 and len(allowed.json()) >= 3
    token = planted(demo_run)["webhook token"]
    inbox = Path(demo_run.detail("receiver", "inbox"))
    assert any(token in path.read_text() for path in inbox.glob("*.json"))


def test_no_file_the_demo_left_holds_a_secret(demo_run: DemoRun) -> None:
    secrets = planted(demo_run)
    scanned = list(files(demo_run.home))
    assert any(p.name == "journal.jsonl" for p in scanned)
    assert any(p.suffix == ".db" for p in scanned)  # the Prefect server's database
    assert any(p.suffix == ".eml" for p in scanned)
    leaks = [
        f"{path.relative_to(demo_run.home)}: {what}"
        for path in scanned
        for what, value in secrets.items()
        if value.encode() in path.read_bytes()
    ]
    assert not leaks


def test_no_object_in_s3_holds_a_secret(demo_run: DemoRun) -> None:
    secrets = planted(demo_run)
    api = aws_client("s3", endpoint_url=demo_run.state.env["AWS_ENDPOINT_URL"], region="us-east-1")
    listing = api.get_paginator("list_objects_v2")  # a call lists 1,000 keys at most
    objects = [
        (bucket["Name"], item["Key"])
        for bucket in api.list_buckets()["Buckets"]
        for page in listing.paginate(Bucket=bucket["Name"])
        for item in page.get("Contents", [])
    ]
    assert any(bucket == "status-example" for bucket, _ in objects)
    assert any(bucket == "lifeboat-audit-rbx" for bucket, _ in objects)
    leaks = [
        f"s3://{bucket}/{key}: {what}"
        for bucket, key in objects
        for what, value in secrets.items()
        if value.encode() in api.get_object(Bucket=bucket, Key=key)["Body"].read()
    ]
    assert not leaks


def every(demo_run: DemoRun, what: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Every item the Prefect API serves under ``/api/WHAT/filter``, and each page's text as
    served: pages of ``PAGE`` by offset, until a short page."""
    ui = demo_run.service("prefect")
    items: list[dict[str, Any]] = []
    pages: list[str] = []
    while True:
        answer = httpx.post(
            f"{ui}/api/{what}/filter",
            json={"limit": PAGE, "offset": len(items)},
            auth=demo_run.api_auth,
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        page: list[dict[str, Any]] = answer.json()
        items += page
        pages.append(answer.text)
        if len(page) < PAGE:
            return items, pages


@pytest.mark.parametrize("what", ["logs", "artifacts", "flow_runs"])
def test_nothing_the_prefect_api_serves_holds_a_secret(demo_run: DemoRun, what: str) -> None:
    items, pages = every(demo_run, what)
    assert items
    # Offset pages of a list sorted with ties (logs: by timestamp) could repeat one item
    # and skip another; distinct ids as many as the items read prove none was skipped.
    assert len({item["id"] for item in items}) == len(items), f"{what}: paging repeated items"
    for name, value in planted(demo_run).items():
        leaks = [n for n, text in enumerate(pages) if value in text]
        assert not leaks, f"{what} show the {name} (pages {leaks} of {len(pages)})"


def test_a_parameter_carrying_a_secret_is_refused_before_anything_records_it(
    demo_run: DemoRun,
) -> None:
    """An operator pastes the on-call webhook URL (token included) into a parameter."""
    env = demo_run.state.env
    url = env["LIFEBOAT_SECRET_ONCALL_WEBHOOK"]
    runs = set((demo_run.home / "runs").iterdir())
    result = demo_cli(
        demo_run.home,
        "run",
        "runbooks/backup-drill.yaml",
        "-p",
        f"reason=webhook {url} is down",
        auth=demo_run.auth_string,
        extra=env,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("Error: parameter 'reason' contains the value of a secret")
    assert planted(demo_run)["webhook token"] not in result.stdout + result.stderr
    assert set((demo_run.home / "runs").iterdir()) == runs


def test_journals_digests_and_the_signing_key_are_private(demo_run: DemoRun) -> None:
    private = [
        *(demo_run.home / "runs").glob("*/journal.jsonl"),
        *(demo_run.home / "runs").glob("*/digest.json"),
        *(demo_run.home / "keys").glob("*.pem"),
        demo_run.home / "sandbox" / "sandbox.json",
    ]
    assert len(private) >= 7  # 3 journals, 3 digests, the key, the sandbox state
    modes = {path: stat.S_IMODE(path.stat().st_mode) for path in private}
    assert all(mode == 0o600 for mode in modes.values()), modes
    assert stat.S_IMODE((demo_run.home / "keys").stat().st_mode) == 0o700
