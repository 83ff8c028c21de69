"""`lifeboat validate` on 200 generated runbooks against a parse-only floor (``make bench``).

Each timing is a whole subprocess, Python start-up included. No network. Prints a Markdown
table for README.md; exits 0 whatever the timings (1 only if a generated runbook is invalid).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FILES = 200
REPEATS = 5
TARGET_S = 2.0
ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
LIFEBOAT = BIN / "lifeboat"

HEADER = """\
# yaml-language-server: $schema=../runbook.schema.json
id: bench-{n:03d}
version: {major}.{minor}.{n}
title: Bench runbook {n} with {count} steps
owner: sre@example.com
objectives: {{rto: {rto}m, rpo: 24h}}
parameters:
  reason: {{type: string, default: "scheduled drill"}}
  health_path: {{type: string, default: /health}}
sites:
  par-1: {{provider: ovh, region: eu-west-3, datacenter: sbg-2}}
  fra-1: {{provider: aws, region: eu-central-1, datacenter: fra-b}}
hosts:
  web-a: {{site: par-1, address: 203.0.113.{n_host}, user: deploy}}
  web-b: {{site: fra-1, address: 198.51.100.{n_host}, user: deploy}}
backups:
  db-nightly:
    protects: web-a
    copies: [{{uri: "s3://prod/db{n}/", site: par-1}}, {{uri: "s3://dr/db{n}/", site: fra-1}}]
    max_age: 26h
    policy: {{min_offsite_copies: 1, min_distance_km: 300}}
stakeholders:
  customers: {{language: fr, channels: ["mailto://status@example.com"]}}
  oncall: {{language: en, channels: ["json://hooks.example.com/lifeboat"]}}
support: {{email: support@example.com, hours: "9:00-18:00 CET"}}
drill: {{schedule: "{minute} 3 * * 1", timezone: Europe/Paris}}
steps:
  - {{id: s0-open, notify: incident.opened, to: [customers, oncall]}}
"""

# Only registered steps (http.status, tcp.open), notify and approval. Ports are literal:
# the JSON Schema types `port` as an integer, so a "${{ ... }}" there would fail its row.
STEPS = [
    """  - id: s{i}-health
    title: "Step {i}: ${{{{ sites.fra-1.region }}}} answers"
    check: http.status
    with: {{url: "https://web-{i}.example.com${{{{ params.health_path }}}}", expect: [200, 204]}}
    retries: {retries}
    retry_delay: 5s
""",
    """  - id: s{i}-port
    check: tcp.open
    with: {{host: "${{{{ hosts.web-b.address }}}}", port: {port}, timeout: 2.5}}
    needs: [{first}]
    timeout: 30s
""",
    "  - {{id: s{i}-update, notify: incident.update, to: [oncall], on_failure: continue}}\n",
    """  - id: s{i}-gate
    approval: {{prompt: "Continue from ${{{{ sites.par-1.datacenter }}}} ({i})?", timeout: 1h30m,
               distinct_approver: true, confirm: fra-1}}
""",
]


def runbook(n: int) -> str:
    count = 5 + n * 35 // (FILES - 1)  # 5 ... 40 steps
    text = HEADER.format(
        n=n,
        major=1 + n % 4,
        minor=n % 7,
        count=count,
        rto=15 + n % 45,
        n_host=1 + n % 250,
        minute=n % 60,
    )
    for i in range(1, count - 1):
        text += STEPS[(i + n) % len(STEPS)].format(
            i=i, retries=i % 4, port=1 + (n * 97 + i) % 65535, first="s0-open"
        )
    return text + "  - {id: done, notify: incident.resolved, to: [customers, oncall]}\n"


def run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False)


def timed(command: list[str]) -> list[float]:
    """Wall-clock seconds of REPEATS runs (the caller's first run warmed the caches)."""
    times: list[float] = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        run(command)
        times.append(time.perf_counter() - started)
    return times


PARSE_ONLY = """\
import pathlib, sys
import yaml
# The fastest honest floor: libyaml's C loader, no validation at all.
for path in sorted(pathlib.Path(sys.argv[1]).glob("*.yaml")):
    yaml.load(path.read_bytes(), Loader=yaml.CSafeLoader)
print("PyYAML CSafeLoader (libyaml)")
"""


def row(tool: str, times: list[float]) -> str:
    median = statistics.median(times)
    return f"| {tool} | {FILES} | {median:.3f} | {min(times):.3f} | {median / FILES * 1000:.2f} |"


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="lifeboat-bench-") as tmp:
        for n in range(FILES):
            Path(tmp, f"bench-{n:03d}.yaml").write_text(runbook(n), encoding="utf-8")
        lifeboat = [str(LIFEBOAT), "validate", tmp]
        first = run(lifeboat)
        if first.returncode != 0 or f"{FILES} runbooks valid" not in first.stdout:
            print(
                f"lifeboat validate exited {first.returncode}; the generated runbooks must be "
                f"valid:\n{first.stderr or first.stdout}"
            )
            return 1
        rows = ["| tool | files | median s | min s | per file ms |", "|---|---|---|---|---|"]
        notes: list[str] = []
        lifeboat_times = timed(lifeboat)
        rows.append(row("`lifeboat validate DIR` (full validation)", lifeboat_times))

        parse_only = [sys.executable, "-c", PARSE_ONLY, tmp]
        parsed = run(parse_only)
        if parsed.returncode == 0:
            rows.append(
                row(f"parse-only floor: `python -c` {parsed.stdout.strip()}", timed(parse_only))
            )
        else:
            notes.append(f"parse-only floor failed: {parsed.stderr.strip()[-300:]}")

        checker = shutil.which(
            "check-jsonschema", path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"
        )
        if checker:
            files = sorted(str(p) for p in Path(tmp).glob("*.yaml"))
            command = [checker, "--schemafile", str(ROOT / "runbook.schema.json"), *files]
            checked = run(command)
            rows.append(row("`check-jsonschema --schemafile runbook.schema.json`", timed(command)))
            if checked.returncode != 0:
                notes.append(f"check-jsonschema exited {checked.returncode} (schema errors)")
        else:
            notes.append("check-jsonschema is not installed: its JSON-Schema row is skipped")

    print("\n".join(rows))
    for note in notes:
        print(f"\nnote: {note}")
    median = statistics.median(lifeboat_times)
    verdict = "PASS" if median < TARGET_S else "FAIL"
    print(
        f"\ntarget: lifeboat validate on {FILES} files under {TARGET_S:g} s: "
        f"{verdict} (median {median:.3f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
