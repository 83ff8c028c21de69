"""docker-compose.yml against the README's "Operations" section (no Docker engine needed).

The mapping is explicit: the README's operations section has a table whose first column is
``service`` and whose rows name each compose service in backticks. The file and the table
must name the same services, and every image (and every ``FROM`` of a Dockerfile the file
builds) must carry a pinned tag, never ``latest``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
COMPOSE = REPO / "docker-compose.yml"
README = REPO / "README.md"


def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict) and isinstance(data.get("services"), dict)
    return data


def operations_section() -> str:
    text = README.read_text()
    match = re.search(r"^## Operations\n(.*?)(?=^## )", text, flags=re.M | re.S)
    assert match, "README.md has no '## Operations' section"
    return match.group(1)


def readme_services() -> list[str]:
    """The backticked names in the first column of the section's ``| service |`` table."""
    lines = operations_section().splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(r"^\|\s*service\s*\|", line))
    names = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cell = line.split("|")[1].strip()
        found = re.fullmatch(r"`([a-z0-9][a-z0-9_-]*)`", cell)
        assert found, f"service cell is not one backticked name: {cell!r}"
        names.append(found.group(1))
    return names


def pinned(image: str) -> bool:
    name, _, tag = image.rpartition(":")
    return bool(name) and "/" not in tag and tag not in ("", "latest")


def test_readme_and_compose_name_the_same_services() -> None:
    documented = readme_services()
    assert len(documented) == len(set(documented)), documented
    assert set(documented) == set(compose()["services"])


def test_the_topology_has_its_parts() -> None:
    services = compose()["services"]
    images = {name: str(svc.get("image", "")) for name, svc in services.items()}
    assert images["postgres"].startswith("postgres:")
    assert images["prefect-server"] == "prefecthq/prefect:3.8.8-python3.11"
    assert sum(image.startswith("minio/minio:") for image in images.values()) == 2
    assert "--pool" in services["worker"]["command"]
    db_url = services["prefect-server"]["environment"]["PREFECT_API_DATABASE_CONNECTION_URL"]
    assert db_url.startswith("postgresql+asyncpg://")


@pytest.mark.parametrize("name", sorted(compose()["services"]))
def test_every_image_is_pinned(name: str) -> None:
    service = compose()["services"][name]
    if "image" in service:
        assert pinned(service["image"]), f"{name}: image {service['image']!r} is not pinned"
    else:
        build = service.get("build")
        context = build if isinstance(build, str) else build["context"]
        dockerfile = REPO / context / "Dockerfile"
        bases = re.findall(r"^FROM\s+(\S+)", dockerfile.read_text(), flags=re.M)
        assert bases, f"{name}: {dockerfile} has no FROM"
        for base in bases:
            assert pinned(base), f"{name}: base image {base!r} is not pinned"


def test_ports_are_published_on_loopback_only() -> None:
    for name, service in compose()["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name}: {port}"


def test_no_secret_values_in_the_file() -> None:
    for name, service in compose()["services"].items():
        env = service.get("environment", {})
        for key, value in env.items():
            if any(word in key for word in ("PASSWORD", "SECRET", "KEY")):
                assert str(value).startswith("${"), f"{name}: {key} must be a ${{...}} placeholder"
