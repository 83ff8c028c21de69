"""Lifeboat's backup completeness check against ``rclone check``, on the same two buckets.

A moto server (``MotoServer``, started in a temporary directory, not timed) holds two
buckets: the primary in eu-west-3 and a copy in eu-central-1, 10,000 objects each of 1 to
5 KB, the same bytes on both sides. Two kinds of work are timed, medians of 4 runs in the
order Lifeboat, rclone, rclone, Lifeboat, ... so that drift on a busy machine (this one is a
VM whose speed varies by 10-20 % from minute to minute) weighs on both alike:

- listing only: ``compare(primary, [copy])``, which pairs objects from both listings and
  decides each pair by size and ETag, against ``rclone check`` (sizes, and MD5s the S3
  backend reads from the listing's ETags);
- a full read: ``compare(..., content=True)``, which downloads both objects of every pair
  and compares SHA-256s, against ``rclone check --download`` (reads and compares bytes).

Lifeboat is timed in-process, its boto3 client cache cleared before each run so that client
creation is paid as rclone pays its start-up; rclone is timed as a whole process. rclone
keeps its defaults (``--checkers 8``: it walks the ten "directories" of each bucket and
compares or downloads eight at a time), and is configured by environment variables only
(``RCLONE_CONFIG_<REMOTE>_...``, config file ``/dev/null``): nothing is read from or
written to the user's home. Lifeboat lists each bucket's folders ``listing.LANES`` at a time
(``lifeboat.listing``) and downloads with ``_WORKERS`` threads; its pages and objects are
read by signed GETs of its own (``lifeboat.s3direct``), boto3 taking over on any error.
Both talk to the same endpoint on 127.0.0.1; moto, one Python process, does most of the
work either way, so other load on the machine moves every figure: the load average is
printed with the table.

Every timed run must agree: Lifeboat reports each object verified, rclone "0 differences
found". Once, outside the timings, a third bucket gets 1,000 of the objects (one prefix)
less 3 and with 2 others overwritten by bytes of the same size; both tools, in both modes,
must name those 5 keys. Run ``.venv/bin/python bench/verify.py``: a Markdown table; exit 0
whatever the timings, 1 only if the tools disagree (rclone missing: ``make bench-system``).
"""

from __future__ import annotations

import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import moto

from checks import backup_completeness
from checks.backup_completeness import Tally, compare
from lifeboat import listing, storage
from lifeboat.sandbox.s3 import DUMMY_ACCESS_KEY, DUMMY_SECRET_KEY, MotoServer
from lifeboat.storage import S3Location

OBJECTS = int(os.environ.get("BENCH_OBJECTS", "10000"))  # fewer only to try the script
PREFIXES = 10  # keys are db/<p>/<n>; the planted bucket holds prefix 0 only
REPEATS = 4  # even: each tool runs first as often as second
TARGET = 1.0  # Lifeboat's wall time over rclone's, at most
SEED_THREADS = 8
PRIMARY, COPY = ("eu-west-3", "bench-primary"), ("eu-central-1", "bench-copy")
PLANTED = ("eu-central-1", "bench-planted")
MISSING, CORRUPTED = 3, 2


class Disagreement(Exception):
    """The tools (or a tool and the truth) differ on what the buckets hold."""


def key(i: int) -> str:
    return f"db/{i % PREFIXES}/{i:06d}.wal"


def body(i: int) -> bytes:
    """1 to 5 KB, different for each key, the same on every run."""
    return random.Random(i).randbytes(1024 + (i * 7919) % 4097)


def seed(server: MotoServer) -> None:
    """Three buckets: primary, copy, planted (not timed)."""
    planted = [i for i in range(OBJECTS) if i % PREFIXES == 0]
    half = len(planted) // 2
    gone, bad = set(planted[1 : 1 + MISSING]), set(planted[half : half + CORRUPTED])
    jobs: list[tuple[str, str, int]] = []
    for region, name in (PRIMARY, COPY, PLANTED):
        server.client("s3", region).create_bucket(
            Bucket=name, CreateBucketConfiguration={"LocationConstraint": region}
        )
    jobs += [(*PRIMARY, i) for i in range(OBJECTS)] + [(*COPY, i) for i in range(OBJECTS)]
    jobs += [(*PLANTED, i) for i in planted if i not in gone]
    clients = {region: server.client("s3", region) for region, _ in (PRIMARY, COPY)}

    def put(job: tuple[str, str, int]) -> None:
        region, name, i = job
        data = body(i)
        if name == PLANTED[1] and i in bad:  # same size, other bytes: only content tells
            data = bytes(b ^ 0xFF for b in data)
        clients[region].put_object(Bucket=name, Key=key(i), Body=data)

    started = time.perf_counter()
    with ThreadPoolExecutor(SEED_THREADS) as pool:
        for done, _ in enumerate(pool.map(put, jobs), 1):
            if done % 2000 == 0 or done == len(jobs):
                rate = done / (time.perf_counter() - started)
                print(f"seeding: {done:,}/{len(jobs):,} objects ({rate:,.0f}/s)", file=sys.stderr)


def rclone_env(url: str) -> dict[str, str]:
    """Remote ``P`` (the primary's region) and ``C`` (the copies'), from variables only."""
    # Without AWS_*: rclone's SDK would read them (AWS_CA_BUNDLE breaks its HTTP client).
    env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    env["RCLONE_CONFIG"] = "/dev/null"  # in memory: no file in $HOME
    for remote, (region, _) in (("P", PRIMARY), ("C", COPY)):
        prefix = f"RCLONE_CONFIG_{remote}_"
        env |= {
            prefix + "TYPE": "s3",
            prefix + "PROVIDER": "Other",
            prefix + "ENDPOINT": url,
            prefix + "REGION": region,
            prefix + "ACCESS_KEY_ID": DUMMY_ACCESS_KEY,
            prefix + "SECRET_ACCESS_KEY": DUMMY_SECRET_KEY,
            prefix + "FORCE_PATH_STYLE": "true",
        }
    return env


def rclone(env: dict[str, str], copy: str, path: str, *flags: str) -> tuple[float, str]:
    """``rclone check`` of the primary's ``path`` against ``copy``'s; (seconds, stderr)."""
    command = ["rclone", "check", f"P:{PRIMARY[1]}/{path}", f"C:{copy}/{path}", *flags]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 1):  # 1: differences found
        raise Disagreement(f"rclone failed ({done.returncode}): {done.stderr[-800:]}")
    return elapsed, done.stderr


def lifeboat(copy: str, path: str, content: bool) -> tuple[float, Tally]:
    storage.client.cache_clear()  # pay for client creation, as rclone pays its start-up
    started = time.perf_counter()
    (tally,) = compare(
        S3Location(PRIMARY[1], path), [S3Location(copy, path)], content=content, samples=100
    )
    return time.perf_counter() - started, tally


def expect_match(tally: Tally, stderr: str, proof: str) -> None:
    """Both tools say the copy holds every object, same content."""
    if not (tally.complete and tally.objects == OBJECTS and tally.verified == {proof: OBJECTS}):
        raise Disagreement(f"Lifeboat: {tally.evidence()}")
    if sum(tally.counts.values()):
        raise Disagreement(f"Lifeboat: {dict(tally.counts)}")
    if "0 differences found" not in stderr or f"{OBJECTS} matching files" not in stderr:
        raise Disagreement(f"rclone: {stderr[-800:]}")


def planted_check(env: dict[str, str], work: Path) -> list[str]:
    """Both tools, both modes, on the planted bucket: the same 5 keys, by kind."""
    path = "db/0/"
    lines = []
    for label, content, flags in (("listing", False, []), ("content", True, ["--download"])):
        _, tally = lifeboat(PLANTED[1], path, content)
        ours = {
            "missing": sorted(tally.samples["missing"]),
            "mismatched": sorted(s["key"] for s in tally.samples["mismatched"]),
        }
        report = work / f"combined-{label}.txt"
        _, stderr = rclone(env, PLANTED[1], path, *flags, "--combined", str(report))
        marks = [line.split(" ", 1) for line in report.read_text().splitlines()]
        theirs = {
            "missing": sorted(name for mark, name in marks if mark == "+"),  # source only
            "mismatched": sorted(name for mark, name in marks if mark == "*"),
        }
        said = f"{MISSING + CORRUPTED} differences found"
        counts = (len(ours["missing"]), len(ours["mismatched"]))
        if ours != theirs or counts != (MISSING, CORRUPTED) or said not in stderr:
            raise Disagreement(f"planted, {label}: Lifeboat {ours}, rclone {theirs}; {stderr}")
        if tally.counts["extra"] or any(mark in "-!" for mark, _ in marks):
            raise Disagreement(f"planted, {label}: extra or errors: {marks}")
        why = sorted({s["reason"] for s in tally.samples["mismatched"]})
        lines.append(
            f"- {label}: both find {MISSING} missing {ours['missing']} and {CORRUPTED} "
            f"mismatched {ours['mismatched']} (Lifeboat: {', '.join(why)})"
        )
    return lines


@dataclass
class Timings:
    """Wall seconds of each tool's runs, and moto's CPU seconds during each of them."""

    mine: list[float] = field(default_factory=list)
    other: list[float] = field(default_factory=list)
    server_mine: list[float] = field(default_factory=list)
    server_other: list[float] = field(default_factory=list)


def server_seconds(pid: int) -> float:
    """CPU seconds (user + system) the moto process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(
    ours: Callable[[], tuple[float, Tally]],
    theirs: Callable[[], tuple[float, str]],
    proof: str,
    server: int,
) -> Timings:
    """REPEATS runs of each, in the order Lifeboat, rclone, rclone, Lifeboat, ...: a machine
    that slows down (or speeds up) through the runs weighs on both tools alike. moto's CPU
    time is read around each run: the work the store did for it, which no client can skip."""
    times = Timings()
    for repeat in range(REPEATS):
        for tool in ("ours", "theirs") if repeat % 2 == 0 else ("theirs", "ours"):
            before = server_seconds(server)
            if tool == "ours":
                seconds, tally = ours()
                times.mine.append(seconds)
                times.server_mine.append(server_seconds(server) - before)
            else:
                elapsed, stderr = theirs()
                times.other.append(elapsed)
                times.server_other.append(server_seconds(server) - before)
        print(f"{proof}: Lifeboat {seconds:.2f} s, rclone {elapsed:.2f} s", file=sys.stderr)
        expect_match(tally, stderr, proof)
    return times


def spread(xs: list[float]) -> str:
    return f"{statistics.median(xs):.2f} ({min(xs):.2f}–{max(xs):.2f})"


def floor_row(work: str, times: Timings) -> str:
    """moto's CPU during each tool's runs, and what each tool's wall time adds to it."""
    med = statistics.median
    left = [wall - cpu for wall, cpu in zip(times.mine, times.server_mine, strict=True)]
    right = [wall - cpu for wall, cpu in zip(times.other, times.server_other, strict=True)]
    cells = [work, f"{med(times.server_mine):.2f}", f"{med(times.server_other):.2f}"]
    cells += [f"{med(left):.2f}", f"{med(right):.2f}"]
    return f"| {' | '.join(cells)} |"


def row(work: str, times: Timings) -> str:
    mine, other = times.mine, times.other
    ratio = statistics.median(mine) / statistics.median(other)
    verdict = "yes" if ratio <= TARGET else "no"
    cells = [work, spread(mine), spread(other), f"{ratio:.2f}x", f"≤ {TARGET:.1f}x", verdict]
    return f"| {' | '.join(cells)} |"


def versions() -> list[str]:
    said = subprocess.run(["rclone", "version"], capture_output=True, text=True, check=False)
    import boto3

    return [
        f"- machine: {len(os.sched_getaffinity(0))} CPUs (nproc), Python {sys.version.split()[0]}",
        f"- {said.stdout.splitlines()[0] if said.stdout else 'rclone: version unknown'}"
        f" ({shutil.which('rclone')})",
        f"- moto {moto.__version__} (server, one process), boto3 {boto3.__version__}",
        f"- Lifeboat: {listing.LANES} folder lanes per listing, one merger per copy, "
        f"{backup_completeness._WORKERS} object workers (HeadObject/GetObject), "
        f"{storage.client().meta.config.max_pool_connections} pooled connections per client; "
        "listing pages and GetObjects by lifeboat.s3direct (signed by botocore)",
        "- rclone: defaults (--checkers 8), log level NOTICE",
    ]


def main() -> int:
    if shutil.which("rclone") is None:
        print("bench/verify.py: rclone is not installed (as root: make bench-system); skipped")
        return 0
    work = Path(tempfile.mkdtemp(prefix="lifeboat-verify-"))
    try:
        with MotoServer(work / "s3") as server:
            os.environ.update(server.env(PRIMARY[0]))
            storage.client.cache_clear()
            seed(server)
            env = rclone_env(server.url)
            path = "db/"
            load = [os.getloadavg()[0]]
            listing = timed(
                lambda: lifeboat(COPY[1], path, False),
                lambda: rclone(env, COPY[1], path),
                "etag",
                server.pid or 0,
            )
            content = timed(
                lambda: lifeboat(COPY[1], path, True),
                lambda: rclone(env, COPY[1], path, "--download"),
                "sha256",
                server.pid or 0,
            )
            load.append(os.getloadavg()[0])
            planted = planted_check(env, work)
            about = versions()
    except Disagreement as exc:
        print(f"bench/verify.py: the tools disagree: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n{OBJECTS:,} objects (1–5 KB) a side; seconds, median (min–max) of {REPEATS} runs.\n")
    print("| work | Lifeboat s | rclone s | ratio | target | met? |\n|---|---|---|---|---|---|")
    print(row("listing: `compare` vs `rclone check`", listing))
    print(row("full read: `compare(content=True)` vs `rclone check --download`", content))
    print("\nThe store's share: moto's CPU seconds during each tool's runs (the floor neither")
    print("tool can go under here), and each tool's wall time beyond it; medians.\n")
    print("| work | moto CPU s, Lifeboat runs | moto CPU s, rclone runs |", end=" ")
    print("Lifeboat wall − moto CPU s | rclone wall − moto CPU s |")
    print("|---|---|---|---|---|")
    print(floor_row("listing", listing))
    print(floor_row("full read", content))
    print(f"\nEvery timed run: both report all {OBJECTS:,} objects equal. Planted differences:")
    print("\n".join(planted))
    print("\n".join(["", *about]))
    print(f"- load average (1 min) before and after the timed runs: {load[0]:.2f}, {load[1]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
