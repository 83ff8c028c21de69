"""The shipped backup drill, end to end: ``lifeboat sandbox seed`` then ``lifeboat run``.

Real parts only: the sandbox's moto S3 (buckets in OVH's sbg and gra regions), its sshd
site standing in for the standby database host, its webhook receiver for on-call, and the
session's Prefect server.
"""

from __future__ import annotations

from pathlib import Path

from lifeboat.journal import read, verify
from lifeboat.sandbox import Sandbox
from tests.conftest import run_lifeboat


def test_seeded_sandbox_passes_the_backup_drill(
    sandbox_env: dict[str, str], sandbox: Sandbox, lifeboat_home: Path, repo: Path
) -> None:
    env = sandbox_env
    seeded = run_lifeboat(env, "sandbox", "seed", "runbooks/backup-drill.yaml", cwd=repo)
    assert seeded.returncode == 0, seeded.stdout + seeded.stderr
    assert "2 buckets created" in seeded.stdout
    assert "db-b.gra.example.net -> site-b" in seeded.stdout
    hooks = len(sandbox.receiver.files())

    result = run_lifeboat(env, "run", "runbooks/backup-drill.yaml", "--mode", "drill", cwd=repo)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "backup-drill 2.0.0: drill run succeeded" in result.stdout
    (journal,) = (lifeboat_home / "runs").glob("*/journal.jsonl")
    assert verify(journal).ok
    done = {e.step_id: e for e in read(journal) if e.event == "step.succeeded"}
    assert set(done) == {
        "geo-separation",
        "fresh",
        "complete",
        "protected",
        "standby-ssh",
        "restore",
        "report",
    }
    assert "gra-db-backups" in (done["restore"].summary or "")
    assert done["restore"].evidence["host"] == "db-b"
    posted = [d for d in sandbox.receiver.wait_for(hooks + 1) if d.path.startswith("/hooks/oncall")]
    assert any(d.json and "[DRILL]" in str(d.json.get("title")) for d in posted)
    secret_url = env["LIFEBOAT_SECRET_ONCALL_WEBHOOK"]
    assert secret_url not in journal.read_text()  # only ${{ secrets.oncall_webhook }}
    assert sandbox.hook_token not in journal.read_text()
