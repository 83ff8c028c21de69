"""The direct S3 path (signed GETs on a socket) against moto, and against a store that
misbehaves on the wire: the same answers as boto3, or None and boto3 takes over."""

from __future__ import annotations

import hashlib
import socket
import ssl
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest

from checks.backup_completeness import compare
from lifeboat import s3direct, storage
from lifeboat.sandbox.s3 import aws_client, aws_env
from lifeboat.storage import S3Location, StorageError
from tests.conftest import AuthS3

# Names the URL must encode exactly: a wrong quoting reads another object, or none.
AWKWARD = [
    "plain.txt",
    "with space.txt",
    "plus+sign",
    "question?mark",
    "hash#tag",
    "percent%41",
    "tilde~and=equals&amp",
    "unicode/é-日本",
    "double//slash",
    "dots/../up",
    "trailing/",
]


def make_bucket(s3: Any, keys: list[str], body: Any = None) -> str:
    name = f"d-{uuid.uuid4().hex[:12]}"
    client = s3.client("s3", "eu-west-3")
    client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-3"})

    def put(key: str) -> None:
        client.put_object(Bucket=name, Key=key, Body=body(key) if body else key.encode() * 3)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, keys))
    return name


def test_reads_every_awkward_name_as_boto3_does(s3: Any) -> None:
    name = make_bucket(s3, AWKWARD)
    direct = s3direct.bucket(storage.client(), name)
    assert direct is not None, "moto over plain HTTP must take the direct path"
    for key in AWKWARD:
        assert direct.sha256(key) == hashlib.sha256(key.encode() * 3).hexdigest(), key


def test_a_missing_object_is_left_to_boto3_which_raises(s3: Any) -> None:
    name = make_bucket(s3, ["here"])
    direct = s3direct.bucket(storage.client(), name)
    assert direct is not None
    assert direct.sha256("not-here") is None
    with pytest.raises(StorageError, match="GetObject 'not-here'"):
        storage.sha256(S3Location(name, ""), "not-here")
    assert direct.sha256("here") is not None  # an error status does not switch it off


def test_list_pages_match_boto3_with_folders_and_awkward_names(s3: Any) -> None:
    name = make_bucket(s3, AWKWARD)
    direct = s3direct.bucket(storage.client(), name)
    assert direct is not None
    for params in ({"Prefix": ""}, {"Prefix": "", "Delimiter": "/"}, {"Prefix": "unicode/"}):
        ours = direct.list_page(params)
        theirs = storage.client().list_objects_v2(Bucket=name, **params)
        assert ours is not None
        assert _entries(ours) == _entries(theirs), params
        assert ours["CommonPrefixes"] == theirs.get("CommonPrefixes", []), params


def test_a_listing_of_several_pages_follows_the_tokens(s3: Any) -> None:
    keys = [f"k/{i:05d}" for i in range(1_005)]  # moto and S3 answer 1,000 keys a page
    name = make_bucket(s3, keys, body=lambda key: b"x")
    location = S3Location(name, "k/")
    direct = s3direct.bucket(storage.client(), name)
    assert direct is not None
    first = direct.list_page({"Prefix": "k/"})
    assert first is not None and first["IsTruncated"] and len(first["Contents"]) == 1_000
    assert [o.key for o in storage.list_objects(location)] == [k[2:] for k in keys]


def test_a_content_comparison_reads_nothing_through_boto3(
    s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If a botocore upgrade broke the direct path, everything would still work, slowly:
    this test is what notices."""
    keys = [f"db/{i}" for i in range(20)]
    primary, copy = make_bucket(s3, keys), make_bucket(s3, keys)
    through_boto3: list[str] = []

    def chunks(location: S3Location, key: str, *args: Any, **kwargs: Any) -> Iterator[bytes]:
        through_boto3.append(key)
        raise AssertionError("read through boto3")

    monkeypatch.setattr(storage, "chunks", chunks)
    (tally,) = compare(S3Location(primary, ""), [S3Location(copy, "")], content=True)
    assert tally.verified == {"sha256": 20} and through_boto3 == []


def test_no_direct_path_through_a_proxy(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    name = make_bucket(s3, ["a"])
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    storage.client.cache_clear()
    assert s3direct.bucket(storage.client(), name) is None


def test_switched_off_by_the_setting(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    name = make_bucket(s3, ["a"])
    monkeypatch.setenv("LIFEBOAT_S3_DIRECT", "false")
    storage.client.cache_clear()
    assert s3direct.bucket(storage.client(), name) is None
    assert storage.sha256(S3Location(name, ""), "a") == hashlib.sha256(b"aaa").hexdigest()


def test_signatures_are_checked_and_accepted(
    s3_auth: AuthS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    """moto with IAM on verifies SigV4: the right key reads directly, a wrong secret is
    refused and boto3 then reports it as an access error."""
    name = f"d-{uuid.uuid4().hex[:12]}"
    api = s3_auth.client("eu-west-3")
    api.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-3"})
    api.put_object(Bucket=name, Key="with space+plus", Body=b"signed")
    for variable, value in s3_auth.env(s3_auth.access_key, s3_auth.secret_key).items():
        monkeypatch.setenv(variable, value)
    storage.client.cache_clear()
    direct = s3direct.bucket(storage.client(), name)
    assert direct is not None and direct.sha256("with space+plus") is not None
    page = direct.list_page({"Prefix": "with"})
    assert page is not None and [o["Key"] for o in page["Contents"]] == ["with space+plus"]

    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong" + s3_auth.secret_key[5:])
    storage.client.cache_clear()
    refused = s3direct.bucket(storage.client(), name)
    assert refused is not None and refused.sha256("with space+plus") is None
    with pytest.raises(StorageError) as raised:
        storage.sha256(S3Location(name, ""), "with space+plus")
    assert raised.value.code == "access.denied"
    storage.client.cache_clear()


@pytest.mark.parametrize(
    ("endpoint", "host"),
    [
        ("http://127.0.0.1:80", "127.0.0.1"),  # the default port is not signed: not sent
        ("https://127.0.0.1:443", "127.0.0.1"),
        ("http://127.0.0.1:9000", "127.0.0.1:9000"),
        ("http://[::1]:9000", "[::1]:9000"),
    ],
)
def test_the_host_sent_is_the_host_signed(endpoint: str, host: str) -> None:
    direct = s3direct.DirectBucket(aws_client("s3", endpoint_url=endpoint), "bucket")
    assert direct.host_header == host


# --- a store misbehaving on the wire (a socket server of the test's own) ---


class Store:
    """Answers every request with ``answer(n)`` (n counts requests), then closes or not;
    over TLS with ``tls`` (a server context)."""

    def __init__(self, answer: Any, keep_open: bool, tls: ssl.SSLContext | None = None) -> None:
        self.answer, self.keep_open, self.tls = answer, keep_open, tls
        self.requests = self.connections = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._talk, args=(connection,), daemon=True).start()

    def _talk(self, connection: socket.socket) -> None:
        if self.tls is not None:
            try:
                connection = self.tls.wrap_socket(connection, server_side=True)
            except (ssl.SSLError, OSError):  # the client refused our certificate
                connection.close()
                return
        with connection:
            while connection.recv(65536):  # one request per read: small GETs
                self.requests += 1
                connection.sendall(self.answer(self.requests))
                if not self.keep_open:
                    return


@pytest.fixture
def against() -> Iterator[Any]:
    made: list[s3direct.DirectBucket] = []

    def connect(store: Store) -> s3direct.DirectBucket:
        client = aws_client("s3", endpoint_url=f"http://127.0.0.1:{store.port}")
        made.append(s3direct.DirectBucket(client, "bucket"))
        return made[-1]

    yield connect
    for direct in made:
        direct.close()


def ok(body: bytes, close: bool = False) -> bytes:
    extra = b"Connection: close\r\n" if close else b""
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


def test_a_body_shorter_than_its_length_is_never_hashed(against: Any) -> None:
    store = Store(lambda n: b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 10, False)
    direct = against(store)
    assert direct.sha256("key") is None
    assert direct.sha256("key") is None and store.requests == 1  # switched off for a while


def test_a_kept_alive_connection_is_reused(against: Any) -> None:
    store = Store(lambda n: ok(b"hello"), keep_open=True)
    direct = against(store)
    digests = {direct.sha256(f"k{i}") for i in range(5)}
    assert digests == {hashlib.sha256(b"hello").hexdigest()}
    assert (store.requests, store.connections) == (5, 1)


def test_a_connection_the_store_dropped_is_retried_on_a_fresh_one(against: Any) -> None:
    # No "Connection: close", yet the store closes after each answer: an idle timeout.
    store = Store(lambda n: ok(b"hello"), keep_open=False)
    direct = against(store)
    assert direct.sha256("a") == direct.sha256("b") == hashlib.sha256(b"hello").hexdigest()
    assert (store.connections, store.requests) == (2, 2)  # b: the stale one, then a new one


def test_connection_close_is_honoured(against: Any) -> None:
    store = Store(lambda n: ok(b"hello", close=True), keep_open=False)
    direct = against(store)
    for key in ("a", "b", "c"):
        assert direct.sha256(key) == hashlib.sha256(b"hello").hexdigest()
    assert store.connections == store.requests == 3


def test_a_wrong_region_answer_is_followed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    moved = b"HTTP/1.1 301 Moved Permanently\r\nx-amz-bucket-region: eu-central-1\r\n"
    moved += b"Content-Length: 0\r\n\r\n"
    store = Store(lambda n: moved if n == 1 else ok(b"hello", close=True), keep_open=False)
    for variable, value in aws_env(f"http://127.0.0.1:{store.port}", "eu-west-3").items():
        monkeypatch.setenv(variable, value)
    storage.client.cache_clear()
    direct = s3direct.bucket(storage.client(), "bucket")
    assert direct is not None and direct.region == "eu-west-3"
    assert direct.sha256("a") == hashlib.sha256(b"hello").hexdigest()
    assert direct.region == "eu-central-1" and store.requests == 2
    direct.close()
    storage.client.cache_clear()


def test_a_refused_connection_falls_back() -> None:
    with socket.socket() as unused:  # a port nobody listens on
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    client = aws_client("s3", endpoint_url=f"http://127.0.0.1:{port}")
    assert s3direct.DirectBucket(client, "bucket").sha256("a") is None


def _entries(page: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (o["Key"], o["Size"], o["ETag"], o["LastModified"], o.get("ChecksumAlgorithm") or [])
        for o in page.get("Contents", [])
    ]


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (IP SAN), signed by its own key: (cert, key) PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lifeboat-test-store")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert, pem = folder / "store.pem", folder / "store.key"
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert, pem


def test_tls_is_verified_against_the_clients_ca_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = self_signed(tmp_path)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    store = Store(lambda n: ok(b"over tls"), keep_open=True, tls=server)
    url = f"https://127.0.0.1:{store.port}"

    monkeypatch.delenv("AWS_CA_BUNDLE", raising=False)  # the default bundle: not trusted
    untrusted = s3direct.DirectBucket(aws_client("s3", endpoint_url=url), "bucket")
    assert untrusted.sha256("a") is None and store.requests == 0

    monkeypatch.setenv("AWS_CA_BUNDLE", str(cert))  # as botocore would, the client trusts it
    trusted = s3direct.DirectBucket(aws_client("s3", endpoint_url=url), "bucket")
    assert trusted.sha256("a") == hashlib.sha256(b"over tls").hexdigest()
    assert trusted.sha256("b") is not None and (store.requests, store.connections) == (2, 2)
    trusted.close()
