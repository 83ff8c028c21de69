"""Network faults between Lifeboat and the real services: slow, reset, silent, throttled.

A ``FaultProxy`` (``tests/faults/proxy.py``) sits between Lifeboat and the sandbox's moto
S3 server or one of its sshd sites. Runbooks run through the engine (``execute`` with the
``InlineExecutor``, as a drill or incident would, without Prefect) and every test proves
one of two things: the run succeeds anyway (latency, throttling, a transient reset that a
step retry outlives), or the step fails *clearly* (an ``access.*`` code, naming the
endpoint and the bucket or host) within a bound we assert. In every case the journal
verifies and holds every step that really reached the service, as the proxy (connections,
request lines naming each step's buckets) or the site (files) saw it. Each test records a
row in the faults ledger (``tests/faults/ledger.py``) before asserting.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from lifeboat import storage
from lifeboat.engine import InlineExecutor, execute
from lifeboat.journal import Entry, read
from lifeboat.outcome import RunOutcome, StepOutcome
from lifeboat.plan import Mode
from lifeboat.sandbox.s3 import MotoServer
from lifeboat.sandbox.sshd import SshdSites
from lifeboat.settings import Settings
from tests.conftest import LIFEBOAT_CLI, run_context
from tests.faults.conftest import SshViaProxy
from tests.faults.proxy import Blackhole, FaultProxy, Latency, Pass, Reset, Throttle
from tests.faults.support import Fault, Ran, journals, record_fault
from tests.waiting import NeverHappened, wait_until

#: An upper bound on wall time here guards against a hang, it is no speed target (those live
#: in ``bench/``): ten times what the fault should take, its configured timeout. The lower
#: bounds are facts under test: a timeout that did not really wait is a bug.
HEADROOM = 10

# --- the proxy itself, against an echo server -----------------------------------------


def _echo(sock: socket.socket, data: bytes) -> bytes:
    sock.sendall(data)
    got = b""
    while len(got) < len(data):
        chunk = sock.recv(65536)
        if not chunk:
            break
        got += chunk
    return got


def _talk(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        return _echo(sock, data)


def test_proxy_pass_forwards_both_ways_and_counts(echo_server: tuple[str, int]) -> None:
    with (
        FaultProxy(*echo_server) as proxy,
        socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock,
    ):
        assert _echo(sock, b"GET /one HTTP/1.1\r\n\r\n") == b"GET /one HTTP/1.1\r\n\r\n"
        assert proxy.wait_for(lambda: proxy.bytes_down == 21, timeout=5)
        assert (proxy.connections, proxy.forwarded, proxy.bytes_up) == (1, 1, 21)
        assert proxy.client_lines == ["GET /one HTTP/1.1"]
        assert isinstance(proxy.mode, Pass) and proxy.url == f"http://127.0.0.1:{proxy.port}"


def test_proxy_latency_delays_each_chunk_each_way(echo_server: tuple[str, int]) -> None:
    with (
        FaultProxy(*echo_server, mode=Latency(0.1)) as proxy,
        socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock,
    ):
        started = time.monotonic()
        assert _echo(sock, b"ping") == b"ping"
        elapsed = time.monotonic() - started
    assert elapsed >= 0.2  # the latency applied: 100 ms up, 100 ms down
    assert elapsed < HEADROOM * 0.2  # a hang guard, ten times the 0.2 s the latency adds


def test_proxy_reset_kills_open_and_new_connections(echo_server: tuple[str, int]) -> None:
    with FaultProxy(*echo_server) as proxy:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
            assert _echo(sock, b"before") == b"before"
            proxy.reset()
            with pytest.raises(ConnectionResetError):
                sock.recv(10)
        with pytest.raises(ConnectionResetError):  # at connect, send or receive: a race
            _talk(proxy.port, b"after")
        assert (proxy.connections, proxy.forwarded, proxy.resets) == (2, 1, 2)
        assert proxy.wait_for(lambda: proxy.open_connections == 0, timeout=5)


def test_proxy_blackhole_reads_and_never_answers(echo_server: tuple[str, int]) -> None:
    with (
        FaultProxy(*echo_server, mode=Blackhole()) as proxy,
        socket.create_connection(("127.0.0.1", proxy.port), timeout=0.3) as sock,
    ):
        sock.sendall(b"anyone there?\r\n")
        with pytest.raises(TimeoutError):
            sock.recv(10)
        assert proxy.wait_for(lambda: proxy.client_lines == ["anyone there?"], timeout=5)
        assert (proxy.connections, proxy.forwarded, proxy.bytes_up) == (1, 0, 0)


def test_proxy_throttle_paces_each_direction(echo_server: tuple[str, int]) -> None:
    size = 40_000
    with (
        FaultProxy(*echo_server, mode=Throttle(100_000)) as proxy,
        socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock,
    ):
        started = time.monotonic()
        assert _echo(sock, b"z" * size) == b"z" * size
        elapsed = time.monotonic() - started
    assert elapsed >= 0.35  # the throttle applied: 40 kB at 100 kB/s is 0.4 s, both ways overlap
    assert elapsed < HEADROOM * 0.4  # a hang guard, ten times those 0.4 s


# --- helpers for runs through the proxy ---------------------------------------------------


@dataclass(frozen=True)
class BackupSet:
    name: str
    buckets: tuple[str, str]  # primary (eu-west-3), off-site copy (eu-central-1)
    objects: int
    size: int


def seed(s3: MotoServer, name: str, *, objects: int = 3, size: int = 4096) -> BackupSet:
    """Two copies of one backup (identical dumps), created straight on moto, not proxied."""
    buckets = (f"f-{uuid.uuid4().hex[:12]}", f"f-{uuid.uuid4().hex[:12]}")
    for bucket, region in zip(buckets, ("eu-west-3", "eu-central-1"), strict=True):
        api = s3.client("s3", region)
        api.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
        for n in range(objects):
            body = (f"dump {name} {n}\n".encode() * (size // 8 + 1))[:size]
            api.put_object(Bucket=bucket, Key=f"nightly/db-{n}.sql", Body=body)
    return BackupSet(name, buckets, objects, size)


def backup_sets(s3: MotoServer, *, full_size: int = 4096) -> dict[str, BackupSet]:
    """The set each step of ``s3_runbook`` reads: ``fresh`` lists it, ``complete`` reads
    every object of it (3 of ``full_size`` bytes)."""
    return {"fresh": seed(s3, "fresh-set"), "complete": seed(s3, "full-set", size=full_size)}


def s3_runbook(
    folder: Path, sets: dict[str, BackupSet], *, fresh_opts: str = "", full_opts: str = ""
) -> Path:
    """``fresh`` (backup.freshness of one set), then ``complete`` (backup.completeness of
    another, reading every object): each step touches only its own buckets."""
    fresh, full = sets["fresh"], sets["complete"]
    copies = {
        s.name: f"""
    {s.name}:
      protects: db
      max_age: 1h
      copies:
        - {{uri: "s3://{s.buckets[0]}/nightly/", site: par}}
        - {{uri: "s3://{s.buckets[1]}/nightly/", site: fra}}"""
        for s in (fresh, full)
    }
    text = f"""\
id: faults-s3
version: 1.0.0
title: Backups behind a faulty network
owner: sre@example.com
sites:
  par: {{provider: aws, region: eu-west-3}}
  fra: {{provider: aws, region: eu-central-1}}
hosts:
  db: {{site: par, address: 127.0.0.1}}
backups:{"".join(copies.values())}
steps:
  - {{id: fresh, check: backup.freshness, with: {{backup: {fresh.name}}}{fresh_opts}}}
  - {{id: complete, check: backup.completeness,
     with: {{backup: {full.name}, content: true}}{full_opts}}}
"""
    path = folder / "faults-s3.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def ssh_runbook(
    folder: Path, alias: str, marker: str, *, reach: str | None = "", mark: str = ""
) -> Path:
    """``reach`` (ssh.reachable; left out when None) then ``mark`` (ssh.run: touch
    app/data/MARKER) on the host; ``reach``/``mark`` add step options."""
    check = (
        f"  - {{id: reach, check: ssh.reachable, with: {{host: standby, timeout: 3}}{reach}}}\n"
        if reach is not None
        else ""
    )
    text = f"""\
id: faults-ssh
version: 1.0.0
title: A standby host behind a faulty network
owner: sre@example.com
sites:
  gra: {{provider: ovh, region: gra}}
hosts:
  standby: {{site: gra, address: {alias}}}
steps:
{check}  - id: mark
    action: ssh.run
    with: {{host: standby, argv: [touch, app/data/{marker}], timeout: 3}}
    rollback: {{action: ssh.run, with: {{host: standby, argv: [rm, -f, app/data/{marker}]}}}}
"""
    text += "".join(f"    {line}\n" for line in mark.splitlines())
    path = folder / "faults-ssh.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def engine_run(
    path: Path, mode: Mode, settings: Settings | None
) -> tuple[Path, Callable[[], RunOutcome]]:
    """The run's journal, and a call that runs it through the engine (no Prefect)."""
    ctx = run_context(path, mode, settings=settings or Settings(notify_backoff=0.01))
    executor = InlineExecutor(ctx)

    def go() -> RunOutcome:
        try:
            return execute(ctx, executor)
        finally:
            executor.pool.shutdown(wait=True)

    return ctx.journal.path, go


def run(path: Path, mode: Mode, settings: Settings | None = None) -> tuple[RunOutcome, float]:
    """Run the runbook through the engine; the outcome and the wall time in seconds."""
    _, go = engine_run(path, mode, settings)
    started = time.monotonic()
    outcome = go()
    return outcome, time.monotonic() - started


def retried(journal: Path) -> list[Entry]:
    return [e for e in read(journal) if e.event == "step.retried"]


def retry_checks(failed_once: bool, resets: int, journal: Path, code: str) -> dict[str, bool]:
    """The first attempt met the reset and failed as the access error ``code``."""
    first = retried(journal)[:1]
    return {
        "first attempt failed": failed_once and resets > 0,
        "as an access error": bool(first) and first[0].error_code == code,
    }


def first_error(journal: Path) -> str:
    found = retried(journal)
    return (found[0].error or "" if found else "")[:120]


def wait_retried(
    find: Callable[[], list[Path]], step: str, ended: Callable[[], bool], timeout: float
) -> bool:
    """Whether a journal ``find`` returns shows ``step`` retried, waiting until one does or
    the run has ``ended`` (``timeout`` guards against a hang). False, not a failure: the
    test records its row ("first attempt failed") before it fails."""

    def retried_yet() -> bool:
        return any(
            e.event == "step.retried" and e.step_id == step
            for journal in find()
            if journal.exists()
            for e in read(journal)
        )

    try:
        wait_until(
            lambda: retried_yet() or ended(),
            f"{step} journaled as retried, or the run ended",
            timeout=timeout,
            every=0.01,
        )
    except NeverHappened:
        return False
    return retried_yet()


@dataclass(frozen=True)
class Healed:
    """A run started behind a proxy that resets, healed once a step's first attempt failed."""

    outcome: RunOutcome
    seconds: float  # from the reset to the run's end
    failed_once: bool
    resets: int  # connections reset before healing

    @property
    def journal(self) -> Path:
        return Path(self.outcome.journal)

    def checks(self, code: str) -> dict[str, bool]:
        return retry_checks(self.failed_once, self.resets, self.journal, code)


Heal = Callable[[FaultProxy, Path, Mode, Settings | None, str], Healed]


@pytest.fixture
def heal() -> Iterator[Heal]:
    """Reset the proxy, run the runbook in another thread, and heal the network during
    ``step``'s retry delay, once the journal shows its first attempt failed."""
    pool = ThreadPoolExecutor(1, thread_name_prefix="fault-run")

    def start(
        proxy: FaultProxy, path: Path, mode: Mode, settings: Settings | None, step: str
    ) -> Healed:
        proxy.reset()
        started = time.monotonic()
        journal, go = engine_run(path, mode, settings)
        future = pool.submit(go)
        failed_once = wait_retried(lambda: [journal], step, future.done, timeout=20)
        resets = proxy.resets
        proxy.passthrough()  # the network heals during the retry delay
        outcome = future.result(timeout=60)
        return Healed(outcome, time.monotonic() - started, failed_once, resets)

    yield start
    pool.shutdown(wait=True)


def touched(proxy: FaultProxy, sets: dict[str, BackupSet]) -> set[str]:
    """Steps whose buckets appear in request lines the proxy saw (read from the client)."""
    return {
        step
        for step, backup in sets.items()
        if any(f"/{b}" in line for b in backup.buckets for line in proxy.client_lines)
    }


def by_id(outcome: RunOutcome) -> dict[str, StepOutcome]:
    return {s.step_id: s for s in outcome.steps}


def statuses(outcome: RunOutcome) -> str:
    """Each step's id, status, attempts and error: what a failed check prints."""
    return str([(s.step_id, s.status, s.attempts, s.error) for s in outcome.steps])


def wait_no_thread(prefix: str, timeout: float) -> bool:
    """Wait until no thread whose name starts with ``prefix`` is alive; False after
    ``timeout`` (a check of the row, recorded before the test fails)."""
    try:
        wait_until(
            lambda: not any(
                t.name.startswith(prefix) and t.is_alive() for t in threading.enumerate()
            ),
            f"no thread {prefix}* alive",
            timeout=timeout,
        )
    except NeverHappened:
        return False
    return True


# --- S3 --------------------------------------------------------------------------------


def test_s3_behind_latency_backup_checks_succeed(
    s3_fault_proxy: FaultProxy, s3_server: MotoServer, tmp_path: Path
) -> None:
    proxy, sets = s3_fault_proxy, backup_sets(s3_server)
    path = s3_runbook(tmp_path, sets)
    proxy.latency(0.05)

    outcome, seconds = run(path, "drill")

    steps, seen = by_id(outcome), touched(proxy, sets)
    record_fault(
        Fault(
            "S3 behind 50 ms latency per chunk each way",
            "s3",
            "freshness and completeness succeed",
        ),
        Ran.steps(seen, Path(outcome.journal)),
        {
            "succeeded": outcome.status == "succeeded",
            "both steps ran": seen == {"fresh", "complete"},
            # freshness lists its two copies one after the other: >= 2 x (50 ms up + down)
            "latency applied": steps["fresh"].duration_ms >= 2 * 100 * 0.9,
        },
        seconds=seconds,
        detail=f"{proxy.connections} connections, {len(proxy.client_lines)} requests",
        context=statuses(outcome),
    )
    assert steps["complete"].evidence["copies"][0]["verified"] == {
        "sha256": sets["complete"].objects
    }


def test_s3_reset_fails_as_access_error_naming_endpoint_and_bucket(
    s3_fault_proxy: FaultProxy, s3_server: MotoServer, tmp_path: Path
) -> None:
    proxy, sets = s3_fault_proxy, backup_sets(s3_server)
    path = s3_runbook(tmp_path, sets)
    proxy.reset()

    outcome, seconds = run(path, "drill")

    steps = by_id(outcome)
    fresh, error = steps["fresh"], steps["fresh"].error or ""
    # Reset connections carry no request: the only step that could open them is ``fresh``
    # (``complete`` needs it), so the endpoint saw one step exactly when it saw connections.
    seen = {"fresh"} if proxy.connections else set()
    # A reset is answered at once (0.2 s measured); that it was not waited out as a
    # timeout, the error says. The wall time is only guarded against a hang: ten times the
    # client's connect timeout.
    guard = HEADROOM * Settings().s3_connect_timeout
    record_fault(
        Fault(
            "S3 connections reset (RST on accept)",
            "s3",
            "access.unreachable naming endpoint and bucket, a connection error (not a "
            f"timeout); hang guard {guard:g} s",
        ),
        Ran.steps(seen, Path(outcome.journal)),
        {
            "run failed at fresh": outcome.status == "failed" and fresh.status == "failed",
            "access error": fresh.error_code == "access.unreachable",
            "names the bucket": f"s3://{sets['fresh'].buckets[0]}/nightly/" in error,
            "names the endpoint": f"127.0.0.1:{proxy.port}" in error,
            "a connection error, not a timeout": "timeout" not in error.lower(),
            f"no hang (under {guard:g} s)": seconds < guard,
            "complete skipped": steps["complete"].status == "skipped",
            "every connection reset": proxy.resets == proxy.connections > 0,
        },
        seconds=fresh.duration_ms / 1000,
        detail=f"{proxy.connections} connections, all reset; {error[:160]}",
        context=error,
    )


def test_s3_transient_reset_is_outlived_by_a_step_retry(
    s3_fault_proxy: FaultProxy,
    s3_server: MotoServer,
    tmp_path: Path,
    heal: Heal,
) -> None:
    proxy, sets = s3_fault_proxy, backup_sets(s3_server)
    path = s3_runbook(tmp_path, sets, fresh_opts=", retries: 2, retry_delay: 1s")

    healed = heal(proxy, path, "drill", None, "fresh")

    fresh, seen = by_id(healed.outcome)["fresh"], touched(proxy, sets)
    record_fault(
        Fault("S3 reset, then healed during the step's retry delay", "s3", "retried and succeeded"),
        Ran.steps(seen, healed.journal),
        {
            **healed.checks("access.unreachable"),
            "succeeded": healed.outcome.status == "succeeded",
            "on a later attempt": fresh.attempts >= 2,
            "both steps ran": seen == {"fresh", "complete"},
        },
        seconds=healed.seconds,
        detail=f"{healed.resets} connections reset before healing; attempts {fresh.attempts}; "
        f"first error: {first_error(healed.journal)}",
        context=statuses(healed.outcome),
    )


def test_s3_blackhole_fails_within_the_configured_read_timeout(
    s3_fault_proxy: FaultProxy,
    s3_server: MotoServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    proxy = s3_fault_proxy
    monkeypatch.setenv("LIFEBOAT_S3_READ_TIMEOUT", "1")
    monkeypatch.setenv("LIFEBOAT_S3_RETRIES", "1")
    storage.client.cache_clear()
    sets = backup_sets(s3_server)
    path = s3_runbook(tmp_path, sets)
    proxy.blackhole()

    outcome, seconds = run(path, "drill")

    fresh, seen = by_id(outcome)["fresh"], touched(proxy, sets)
    error = fresh.error or ""
    # The listing's direct GET (lifeboat.s3direct) times out first; boto3 then makes its
    # try and its retry: 3 read timeouts of 1 s, which the step must really wait. The upper
    # bound guards against a hang only: ten times those 3 s.
    waited = 3 * 1
    guard = HEADROOM * waited
    record_fault(
        Fault(
            "S3 blackholed (accepts, never answers), read timeout 1 s, 1 retry",
            "s3",
            f"access.unreachable after 3 read timeouts of 1 s; hang guard {guard} s",
        ),
        Ran.steps(seen, Path(outcome.journal)),
        {
            "run failed at fresh": outcome.status == "failed" and fresh.status == "failed",
            "access error": fresh.error_code == "access.unreachable",
            "says read timeout": "ReadTimeoutError" in error,
            "names the bucket": f"s3://{sets['fresh'].buckets[0]}/nightly/" in error,
            "names the endpoint": f"127.0.0.1:{proxy.port}" in error,
            "took the timeouts": fresh.duration_ms >= waited * 1000 * 0.9,
            f"no hang (under {guard} s)": seconds < guard,
            "nothing forwarded": proxy.forwarded == 0,
            "direct try, then boto3's try and retry": len(proxy.client_lines) == 3,
            "only fresh reached the endpoint": seen == {"fresh"},
        },
        seconds=fresh.duration_ms / 1000,
        detail=f"{proxy.connections} connections, {len(proxy.client_lines)} requests "
        f"swallowed; {error[:140]}",
        context=error,
    )


def test_s3_blackhole_with_default_client_is_cut_by_the_step_timeout(
    s3_fault_proxy: FaultProxy, s3_server: MotoServer, tmp_path: Path
) -> None:
    """Default client (60 s read timeout, 3 attempts): the runbook's ``timeout`` decides."""
    proxy, sets = s3_fault_proxy, backup_sets(s3_server)
    path = s3_runbook(tmp_path, sets, fresh_opts=", timeout: 2s")
    proxy.blackhole()

    outcome, seconds = run(path, "drill")

    fresh, seen = by_id(outcome)["fresh"], touched(proxy, sets)
    ran = Ran.steps(seen, Path(outcome.journal))
    # The abandoned call still waits on the blackhole: reset it and wait for it to end, so
    # that it cannot reach another test's proxy on a reused port.
    proxy.reset()
    abandoned_ended = wait_no_thread("step-backup.freshness", timeout=15)
    # The step's 2 s timeout cuts the call, and not before (lower bound). The upper bound
    # guards against a hang: ten times the step timeout, still well under the 60 s the
    # client alone would wait for each read.
    guard = HEADROOM * 2
    record_fault(
        Fault(
            "S3 blackholed, default client, step timeout 2 s",
            "s3",
            f"step.timeout at 2 s; hang guard {guard} s",
        ),
        ran,
        {
            "run failed at fresh": outcome.status == "failed" and fresh.status == "failed",
            "step timeout": fresh.error_code == "step.timeout",
            "says so": "did not finish within 2 s" in (fresh.error or ""),
            "cut at the 2 s step timeout, not before": fresh.duration_ms / 1000 >= 1.9,
            f"no hang (under {guard} s)": fresh.duration_ms / 1000 < guard and seconds < guard,
            "only fresh reached the endpoint": seen == {"fresh"},
            "abandoned call ended": abandoned_ended,
        },
        seconds=fresh.duration_ms / 1000,
        detail=fresh.error or "",
        context=fresh.error or "",
    )


def test_s3_throttled_backup_checks_complete(
    s3_fault_proxy: FaultProxy, s3_server: MotoServer, tmp_path: Path
) -> None:
    proxy, rate = s3_fault_proxy, 200_000
    sets = backup_sets(s3_server, full_size=64 * 1024)
    path = s3_runbook(tmp_path, sets)
    proxy.throttle(rate)

    outcome, seconds = run(path, "drill")

    steps, seen = by_id(outcome), touched(proxy, sets)
    content = 2 * 3 * 64 * 1024  # completeness with content: true reads both copies
    record_fault(
        Fault(
            f"S3 throttled to {rate // 1000} kB/s",
            "s3",
            "freshness and a full-content completeness succeed",
        ),
        Ran.steps(seen, Path(outcome.journal)),
        {
            "succeeded": outcome.status == "succeeded",
            "read every object": proxy.bytes_down >= content,
            "throttle applied": seconds >= 0.9 * content / rate,
            "both steps ran": seen == {"fresh", "complete"},
        },
        seconds=seconds,
        detail=f"{proxy.bytes_down} bytes down through the proxy",
        context=statuses(outcome),
    )
    assert steps["complete"].evidence["copies"][0]["verified"] == {"sha256": 3}


def test_cli_run_outlives_a_transient_s3_reset_through_prefect_retries(
    s3_fault_proxy: FaultProxy,
    s3_server: MotoServer,
    prefect_server: str,
    lifeboat_home: Path,
    tmp_path: Path,
) -> None:
    """``lifeboat run`` as an operator runs it: Prefect's task retries (the production
    executor) outlive the reset, and the output is a summary, not a traceback."""
    proxy, sets = s3_fault_proxy, backup_sets(s3_server)
    path = s3_runbook(tmp_path, sets, fresh_opts=", retries: 2, retry_delay: 1s")
    env = {**os.environ, "PREFECT_API_URL": prefect_server, "LIFEBOAT_HOME": str(lifeboat_home)}
    proxy.reset()
    started = time.monotonic()
    with (tmp_path / "cli.out").open("w+") as output:
        process = subprocess.Popen(
            [LIFEBOAT_CLI, "run", str(path), "--mode", "drill"],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            failed_once = wait_retried(
                lambda: journals(lifeboat_home),
                "fresh",
                lambda: process.poll() is not None,
                timeout=60,
            )
            resets = proxy.resets
            proxy.passthrough()
            code = process.wait(timeout=90)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        seconds = time.monotonic() - started
        output.seek(0)
        printed = output.read()

    (journal,) = (lifeboat_home / "runs").glob("*/journal.jsonl")
    seen = touched(proxy, sets)
    done = {e.step_id for e in read(journal) if e.event == "step.succeeded"}
    record_fault(
        Fault(
            "S3 reset, healed during the retry delay, `lifeboat run` (Prefect)",
            "s3",
            "Prefect task retry succeeds, exit 0, no traceback",
        ),
        Ran.steps(seen, journal),
        {
            **retry_checks(failed_once, resets, journal, "access.unreachable"),
            "exit 0": code == 0,
            "says so": "drill run succeeded" in printed,
            "no traceback": "Traceback" not in printed,
            "both steps succeeded": done == {"fresh", "complete"},
            "both steps ran": seen == {"fresh", "complete"},
        },
        seconds=seconds,
        detail=f"{resets} connections reset; first error: {first_error(journal)}",
        context=printed[-3000:],
    )


# --- sshd ------------------------------------------------------------------------------


def marker() -> str:
    return f"marked-{uuid.uuid4().hex[:8]}"


def landed(via: SshViaProxy, name: str) -> bool:
    """Whether ``mark`` touched its marker on the site: the side effect, seen on the site."""
    return (via.site.root / "app" / "data" / name).exists()


def reached(connections: int) -> set[str]:
    """The steps that reached the host when each opens one connection, in order."""
    return set(("reach", "mark")[:connections])


def test_ssh_behind_latency_runs_with_the_host_key_verified(
    ssh_fault_proxy: SshViaProxy, tmp_path: Path
) -> None:
    via, name = ssh_fault_proxy, marker()
    path = ssh_runbook(tmp_path, via.alias, name)
    via.proxy.latency(0.05)

    outcome, seconds = run(path, "live", via.settings())

    reach, marked = by_id(outcome)["reach"], landed(via, name)
    seen = {"reach"} if via.proxy.forwarded else set()
    seen |= {"mark"} if marked else set()
    record_fault(
        Fault(
            "sshd behind 50 ms latency per chunk each way",
            "sshd",
            "ssh.reachable and ssh.run succeed, host key verified",
        ),
        Ran.steps(seen, Path(outcome.journal)),
        {
            "succeeded": outcome.status == "succeeded",
            "key verified": reach.evidence.get("host_key_fingerprint")
            == via.site.host_key.fingerprint,
            "through the proxy": f"127.0.0.1:{via.proxy.port}"
            in reach.evidence.get("endpoint", ""),
            "file on the site": marked,
            "both steps reached the host": seen == {"reach", "mark"},
        },
        seconds=seconds,
        detail=f"{via.proxy.connections} connections",
        context=statuses(outcome),
    )


@pytest.mark.parametrize("fault", ["reset", "blackhole"])
def test_ssh_fault_fails_both_steps_clearly_within_their_timeout(
    ssh_fault_proxy: SshViaProxy, tmp_path: Path, fault: str
) -> None:
    via, name = ssh_fault_proxy, marker()
    path = ssh_runbook(tmp_path, via.alias, name, reach=", on_failure: continue")
    via.proxy.set_mode(Reset() if fault == "reset" else Blackhole())

    outcome, _ = run(path, "live", via.settings())

    steps = by_id(outcome)
    reach, mark = steps["reach"], steps["mark"]
    # Each step opens exactly one connection (a failed connect is not pooled): the
    # connections the proxy accepted are the steps that reached the host.
    seen = reached(via.proxy.connections)
    timeout = 3  # each step's (ssh_runbook)
    # A reset fails at once, as a reset (``why``); a blackhole at the timeout, which the
    # steps must really wait. The upper bound guards against a hang: ten times the timeout.
    guard = HEADROOM * timeout
    why = {
        "reset": ("Connection reset by peer", "closed or reset during the SSH handshake"),
        "blackhole": ("SSH handshake timed out",),
    }
    when = {"reset": "as a reset", "blackhole": f"at their {timeout} s timeout"}
    waited = {
        f"{s.step_id} waited its {timeout} s timeout": s.duration_ms >= timeout * 1000 * 0.9
        for s in (reach, mark)
        if fault == "blackhole"
    }
    endpoint = f"127.0.0.1:{via.proxy.port}"
    record_fault(
        Fault(
            f"sshd behind {fault}",
            "sshd",
            f"ssh.reachable and ssh.run fail clearly {when[fault]}; hang guard {guard} s",
        ),
        Ran.steps(seen, Path(outcome.journal)),
        {
            **waited,
            "run failed at mark": outcome.status == "failed" and mark.status == "failed",
            "reach failed": reach.status == "failed" and reach.error_code == "check.failed",
            "mark is an access error": mark.error_code == "access.ssh",
            "say why": all(any(w in (s.error or "") for w in why[fault]) for s in (reach, mark)),
            "name the endpoint": endpoint in (reach.error or "") and endpoint in (mark.error or ""),
            f"reach: no hang (under {guard} s)": reach.duration_ms / 1000 < guard,
            f"mark: no hang (under {guard} s)": mark.duration_ms / 1000 < guard,
            "nothing ran on the site": not landed(via, name),
            "one connection per step": via.proxy.connections == 2,
            "both steps reached the host": seen == {"reach", "mark"},
        },
        seconds=max(reach.duration_ms, mark.duration_ms) / 1000,
        detail=f"reach {reach.duration_ms / 1000:.2f} s: {(reach.error or '')[:90]}; "
        f"mark {mark.duration_ms / 1000:.2f} s: {(mark.error or '')[:90]}",
        context=f"{reach.error}\n{mark.error}",
    )


def test_ssh_transient_reset_is_outlived_by_a_step_retry(
    ssh_fault_proxy: SshViaProxy,
    tmp_path: Path,
    heal: Heal,
) -> None:
    via, name = ssh_fault_proxy, marker()
    # One step, the action: a retry must not run it twice (one file, one journal record).
    path = ssh_runbook(tmp_path, via.alias, name, reach=None, mark="retries: 2\nretry_delay: 1s")

    healed = heal(via.proxy, path, "live", via.settings(), "mark")

    mark, marked = by_id(healed.outcome)["mark"], landed(via, name)
    seen = {"mark"} if marked or via.proxy.connections else set()
    record_fault(
        Fault(
            "sshd reset, then healed during the step's retry delay", "sshd", "retried and succeeded"
        ),
        Ran.steps(seen, healed.journal),
        {
            **healed.checks("access.ssh"),
            "succeeded": healed.outcome.status == "succeeded" and mark.attempts >= 2,
            "file on the site": marked,
            "mark reached the host": seen == {"mark"},
        },
        seconds=healed.seconds,
        detail=f"{healed.resets} connections reset; attempts {mark.attempts}; "
        f"first error: {first_error(healed.journal)}",
        context=statuses(healed.outcome),
    )


def test_ssh_through_the_proxy_still_refuses_a_wrong_host_key(
    ssh_fault_proxy: SshViaProxy, sshd_sites: SshdSites, tmp_path: Path
) -> None:
    """The proxy changes the port, not the trust: site-a's key for the proxy's address
    while the proxy leads to site-b is a changed host key, refused before any command."""
    via, name = ssh_fault_proxy, marker()
    via.trust(sshd_sites["site-a"])
    path = ssh_runbook(tmp_path, via.alias, name, reach=", on_failure: continue")

    outcome, seconds = run(path, "live", via.settings())

    steps = by_id(outcome)
    reach, mark = steps["reach"], steps["mark"]
    seen = reached(via.proxy.forwarded)
    record_fault(
        Fault(
            "sshd through the proxy with the wrong host key in known_hosts",
            "sshd",
            "both steps refused: HOST KEY CHANGED, nothing run",
        ),
        Ran.steps(seen, Path(outcome.journal)),
        {
            "run failed": outcome.status == "failed",
            "reach refused": "HOST KEY CHANGED" in (reach.error or ""),
            "mark refused": "HOST KEY CHANGED" in (mark.error or "")
            and mark.error_code == "access.ssh",
            "nothing ran on the site": not landed(via, name),
            "both steps reached the host": seen == {"reach", "mark"},
        },
        seconds=seconds,
        detail=(reach.error or "")[:160],
        context=f"{reach.error}\n{mark.error}",
    )
