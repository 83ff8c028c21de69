"""A run's journal, sealed: an Ed25519-signed digest beside it, and the check of both.

The journal's hash chain (``lifeboat.journal``) shows where an entry was changed, removed,
added or moved, but not the loss of its last entries: a cut chain is still a chain. When a
run ends, ``seal`` writes ``digest.json`` next to the journal: the entry count, the last
seq and the hash of the last line, the SHA-256 of the whole file, and who ran what, signed
with the orchestrator's Ed25519 key. ``verify_run`` checks the signature with the public
key it is given (never one the digest names), then the chain, then the digest's numbers;
it names the first entry that does not fit.

Fast on purpose (100,000 entries in well under a second): the file is read once, each line
is hashed as stored, and ``seq``/``prev_sha256`` are read at their fixed places in the line
(the journal writes fields in model order); JSON is parsed only to explain a problem.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from lifeboat.audit import chain
from lifeboat.errors import LifeboatError
from lifeboat.settings import Settings

JOURNAL, DIGEST = "journal.jsonl", "digest.json"
FORMAT = 1


class IntegrityError(LifeboatError):
    """A journal cannot be sealed, or a key cannot be read or created."""


# --- keys ---


def public_path(key: Path) -> Path:
    """Where the public half of ``key`` is written: ``journal-ed25519.pub`` beside it."""
    return key.with_suffix(".pub")


def signing_key(settings: Settings) -> Ed25519PrivateKey:
    """The orchestrator's signing key; created on first use (0600, in a 0700 folder)."""
    path = settings.signing_key_path
    if not path.exists():
        _create_key(path)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise IntegrityError(f"cannot read the signing key {path}: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise IntegrityError(f"{path} is not an Ed25519 private key")
    return key


def _create_key(path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(path.parent, 0o700)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another run created it first: use that one
            return
        with os.fdopen(descriptor, "wb") as file:
            file.write(private)
            file.flush()
            os.fsync(file.fileno())
        _write_atomically(public_path(path), public, 0o644)
    except OSError as exc:
        raise IntegrityError(f"cannot create the signing key {path}: {exc}") from exc


def public_key(settings: Settings) -> Ed25519PublicKey:
    """The key digests are checked with: the ``.pub`` file, else the private key's half."""
    path = settings.signing_key_path
    pub = public_path(path)
    try:
        if pub.exists():
            key = serialization.load_pem_public_key(pub.read_bytes())
            if not isinstance(key, Ed25519PublicKey):
                raise IntegrityError(f"{pub} is not an Ed25519 public key")
            return key
    except (OSError, ValueError) as exc:
        raise IntegrityError(f"cannot read the public key {pub}: {exc}") from exc
    if not path.exists():
        raise IntegrityError(f"no signing key at {path} (nor {pub.name}): nothing to check with")
    return signing_key(settings).public_key()


def fingerprint(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "sha256:" + hashlib.sha256(raw).hexdigest()


# --- sealing ---


def canonical(fields: dict[str, Any]) -> bytes:
    """The bytes that are signed: sorted keys, no spaces, UTF-8."""
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def seal(journal_path: Path, settings: Settings) -> dict[str, Any]:
    """Sign the journal as it is now; write ``digest.json`` beside it (atomically, 0600).

    Refuses a journal whose chain is broken: a signature must never bless a tampered file.
    """
    try:
        data = journal_path.read_bytes()
    except OSError as exc:
        raise IntegrityError(f"cannot read {journal_path}: {exc}") from exc
    lines = data.split(b"\n")
    if lines[-1] or len(lines) < 2:
        raise IntegrityError(f"{journal_path}: empty or ends in a partial line: not sealed")
    lines.pop()
    walked = chain.walk(lines)
    if walked.bad is not None:
        problem = chain.diagnose(lines, walked)
        raise IntegrityError(f"{journal_path}: {problem.words}: not sealed")
    first = json.loads(lines[0])
    key = signing_key(settings)
    fields: dict[str, Any] = {
        "format": FORMAT,
        "run_id": first["run_id"],
        "runbook": {
            "id": first["runbook"]["id"],
            "version": first["runbook"]["version"],
            "sha256": first["runbook"]["sha256"],
        },
        "entries": len(lines),
        "last_seq": len(lines),
        "last_sha256": walked.hashes[-1],
        "journal_sha256": hashlib.sha256(data).hexdigest(),
        "signed_at": datetime.now(UTC).isoformat(),
        "key_fingerprint": fingerprint(key.public_key()),
    }
    fields["signature"] = base64.b64encode(key.sign(canonical(fields))).decode()
    text = json.dumps(fields, indent=2, sort_keys=True).encode() + b"\n"
    try:
        _write_atomically(journal_path.parent / DIGEST, text, 0o600)
    except OSError as exc:
        raise IntegrityError(f"cannot write the digest of {journal_path}: {exc}") from exc
    return fields


def _write_atomically(path: Path, data: bytes, mode: int) -> None:
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# --- verifying ---


@dataclass(frozen=True)
class RunCheck:
    """What ``verify_run`` found. ``bad_seq`` is the first entry that does not fit (None when
    the problem is the digest itself); ``bad_line`` the line of the file it shows at."""

    ok: bool
    entries: int  # complete lines in the journal
    run_id: str | None = None
    signer: str | None = None  # the digest's key fingerprint, once its signature verified
    bad_seq: int | None = None
    bad_line: int | None = None
    problem: str | None = None


def resolve(target: Path) -> tuple[Path, Path]:
    """(journal, digest) for a run folder or a journal file."""
    journal = target / JOURNAL if target.is_dir() else target
    return journal, journal.parent / DIGEST


def verify_run(target: Path, key: Ed25519PublicKey) -> RunCheck:
    """Check the run's journal (a run folder or its ``journal.jsonl``) against its digest."""
    journal, digest = resolve(target)
    data = journal.read_bytes()
    sealed = digest.read_bytes() if digest.exists() else None
    return verify_bytes(data, sealed, key)


def verify_bytes(data: bytes, sealed: bytes | None, key: Ed25519PublicKey) -> RunCheck:
    """``verify_run`` on contents: a journal and its digest (None when there is none)."""
    lines = data.split(b"\n")
    partial = lines.pop()
    count = len(lines)
    walked = chain.walk(lines)
    if walked.bad is not None:
        found = chain.diagnose(lines, walked)
        return RunCheck(False, count, bad_seq=found.seq, bad_line=found.line, problem=found.words)
    if partial:
        words = f"entry {count + 1}: truncated (no end of line)"
        return RunCheck(False, count, bad_seq=count + 1, bad_line=count + 1, problem=words)
    fields, problem = _signed_fields(sealed, key)
    if fields is None:
        return RunCheck(False, count, problem=problem)
    return _against_digest(fields, data, lines, walked.hashes)


def _against_digest(
    fields: dict[str, Any], data: bytes, lines: list[bytes], hashes: list[str]
) -> RunCheck:
    """A whole chain against what its (verified) digest sealed: count, last entry, bytes."""
    count, sealed_count = len(lines), int(fields["entries"])
    run_id, signer = str(fields["run_id"]), str(fields["key_fingerprint"])

    def bad(seq: int | None, words: str) -> RunCheck:
        line = seq if seq is not None and seq <= count else None
        return RunCheck(False, count, run_id, signer, seq, line, words)

    if count < sealed_count:
        missing = f"{count + 1}" if count + 1 == sealed_count else f"{count + 1}-{sealed_count}"
        return bad(count + 1, f"entries {missing} missing: the journal was truncated")
    if count > sealed_count:
        return bad(sealed_count + 1, f"entry {sealed_count + 1}: added after the run was sealed")
    if count and hashes[-1] != fields["last_sha256"]:
        return bad(count, f"entry {count}: modified (the digest sealed another last entry)")
    if hashlib.sha256(data).hexdigest() != fields["journal_sha256"]:
        return bad(None, "the journal file differs from the one sealed")
    if count and chain.run_of(lines[0]) != run_id:
        return bad(1, f"entry 1: belongs to another run than the digest's {run_id}")
    return RunCheck(True, count, run_id, signer)


def _signed_fields(
    sealed: bytes | None, key: Ed25519PublicKey
) -> tuple[dict[str, Any] | None, str]:
    if sealed is None:
        return None, f"no {DIGEST}: the run was never sealed, or its digest was deleted"
    try:
        fields = json.loads(sealed)
        signature = base64.b64decode(fields.pop("signature"), validate=True)
        signer = str(fields["key_fingerprint"])
        if not isinstance(fields["entries"], int) or not isinstance(fields["run_id"], str):
            raise TypeError("entries or run_id")
    except (ValueError, KeyError, TypeError, AttributeError):
        return None, f"{DIGEST} is not a valid digest (altered or damaged)"
    expected = fingerprint(key)
    if signer != expected:
        return None, f"{DIGEST} is signed by another key ({signer}, expected {expected})"
    try:
        key.verify(signature, canonical(fields))
    except InvalidSignature:
        return None, f"{DIGEST}: bad signature (the digest was altered)"
    return fields, ""
