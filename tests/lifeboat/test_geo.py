"""The region catalogue and great-circle distance used by the geo-separation check."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lifeboat.geo import (
    EARTH_RADIUS_KM,
    Location,
    canonical_provider,
    distance_km,
    known_providers,
    locate,
    lookup,
    regions,
)

HALF_CIRCUMFERENCE_KM = math.pi * EARTH_RADIUS_KM  # 20015.09 km

points = st.tuples(
    st.floats(min_value=-90, max_value=90, allow_nan=False),
    st.floats(min_value=-180, max_value=180, allow_nan=False),
)


def _point(provider: str, region: str) -> tuple[float, float]:
    location = lookup(provider, region)
    assert location is not None, f"{provider}/{region} missing"
    return location.point


def test_paris_to_frankfurt() -> None:
    km = distance_km(_point("aws", "eu-west-3"), _point("aws", "eu-central-1"))
    assert km == pytest.approx(480, abs=30)


def test_strasbourg_to_gravelines() -> None:
    km = distance_km(_point("ovh", "sbg"), _point("ovh", "gra"))
    assert km == pytest.approx(500, abs=40)


def test_same_region_is_zero() -> None:
    assert distance_km(_point("gcp", "europe-west1"), _point("gcp", "europe-west1")) == 0.0


def test_antipodes() -> None:
    assert distance_km((0.0, 0.0), (0.0, 180.0)) == pytest.approx(20015, abs=1)
    assert distance_km((48.86, 2.35), (-48.86, -177.65)) == pytest.approx(20015, abs=1)
    assert distance_km((90.0, 0.0), (-90.0, 0.0)) == pytest.approx(HALF_CIRCUMFERENCE_KM)


def test_one_degree_of_latitude() -> None:
    assert distance_km((0.0, 10.0), (1.0, 10.0)) == pytest.approx(111.195, abs=0.01)


def test_out_of_range_points_are_refused() -> None:
    with pytest.raises(ValueError, match="latitude"):
        distance_km((91.0, 0.0), (0.0, 0.0))
    with pytest.raises(ValueError, match="longitude"):
        distance_km((0.0, 0.0), (0.0, math.nan))


def test_catalogue_entries_are_well_formed() -> None:
    assert known_providers() == ("aws", "azure", "gcp", "hetzner", "ovh", "scaleway")
    for provider in known_providers():
        codes = regions(provider)
        assert codes, provider
        assert len({code.lower() for code in codes}) == len(codes)
        for code in codes:
            location = lookup(provider, code)
            assert location is not None
            assert location.provider == provider
            assert location.region == code
            assert -90 <= location.lat <= 90
            assert -180 <= location.lon <= 180
            assert len(location.country) == 2
            assert location.country.isalpha()
            assert location.country.isupper()
            assert location.city


def test_catalogue_coverage() -> None:
    aws = set(regions("aws"))
    for code in (
        "us-east-1",
        "us-east-2",
        "us-west-1",
        "us-west-2",
        "af-south-1",
        "ap-east-1",
        "ap-south-1",
        "ap-south-2",
        *(f"ap-southeast-{n}" for n in range(1, 6)),
        *(f"ap-northeast-{n}" for n in range(1, 4)),
        "ca-central-1",
        "ca-west-1",
        "eu-central-1",
        "eu-central-2",
        "eu-west-1",
        "eu-west-2",
        "eu-west-3",
        "eu-south-1",
        "eu-south-2",
        "eu-north-1",
        "il-central-1",
        "me-south-1",
        "me-central-1",
        "sa-east-1",
        "mx-central-1",
        "us-gov-west-1",
        "us-gov-east-1",
        "cn-north-1",
        "cn-northwest-1",
    ):
        assert code in aws, code
    assert len(regions("gcp")) >= 20
    assert len(regions("azure")) >= 20
    assert {"GRA", "SBG", "RBX", "BHS", "WAW", "DE", "UK", "SGP", "SYD", "LIM"} <= set(
        regions("ovh")
    )
    assert "eu-west-par" in regions("ovh")
    assert regions("scaleway") == ("fr-par", "nl-ams", "pl-waw")
    assert set(regions("hetzner")) == {"fsn1", "nbg1", "hel1", "ash", "hil", "sin"}


@pytest.mark.parametrize(
    ("provider", "region", "city", "country"),
    [
        ("aws", "us-east-1", "Ashburn, Virginia", "US"),
        ("aws", "eu-south-2", "Zaragoza, Aragón", "ES"),
        ("gcp", "europe-west1", "St. Ghislain", "BE"),
        ("gcp", "europe-north1", "Hamina", "FI"),
        ("azure", "swedencentral", "Gävle", "SE"),
        ("azure", "ukwest", "Cardiff", "GB"),
        ("ovh", "SBG", "Strasbourg", "FR"),
        ("scaleway", "pl-waw", "Warsaw", "PL"),
        ("hetzner", "fsn1", "Falkenstein", "DE"),
    ],
)
def test_known_places(provider: str, region: str, city: str, country: str) -> None:
    location = lookup(provider, region)
    assert location is not None
    assert (location.city, location.country) == (city, country)


def test_provider_aliases_and_case() -> None:
    assert canonical_provider("Google") == "gcp"
    assert canonical_provider(" OVHcloud ") == "ovh"
    assert canonical_provider("digitalocean") is None
    assert lookup("google", "EUROPE-WEST3") == lookup("gcp", "europe-west3")
    assert lookup("ovhcloud", "gra") == lookup("ovh", "GRA")
    for alias in ("gra", "sbg", "rbx", "bhs", "waw", "de", "uk"):
        location = lookup("ovh", alias)
        assert location is not None
        assert location.region == alias.upper()
    assert lookup("AWS", "US-EAST-1") == lookup("aws", "us-east-1")
    assert regions("google") == regions("gcp")


def test_zone_and_datacentre_names_resolve_to_their_region() -> None:
    for provider, zone, region in [
        ("aws", "us-east-1a", "us-east-1"),
        ("gcp", "europe-west1-b", "europe-west1"),
        ("ovh", "GRA11", "GRA"),
        ("ovh", "sbg5", "SBG"),
        ("ovh", "DE1", "DE"),
        ("ovh", "eu-west-par-a", "eu-west-par"),
        ("scaleway", "fr-par-2", "fr-par"),
        ("hetzner", "fsn1-dc14", "fsn1"),
    ]:
        location = lookup(provider, zone)
        assert location is not None, zone
        assert location.region == region


def test_unknown_lookups() -> None:
    assert lookup("aws", "mars-north-1") is None
    assert lookup("aws", "mars-north-1a") is None
    assert lookup("azure", "westeurope1") is None
    assert lookup("nobody", "us-east-1") is None
    assert regions("nobody") == ()
    assert locate("aws", "nowhere-1") is None
    assert locate(None, None) is None


def test_locate_prefers_explicit_coordinates() -> None:
    assert locate("aws", "eu-west-3") == _point("aws", "eu-west-3")
    assert locate("aws", "eu-west-3", lat=43.6, lon=1.44) == (43.6, 1.44)
    assert locate("nobody", "nowhere", lat=0.0, lon=0.0) == (0.0, 0.0)
    assert locate(None, None, lat=-33.9, lon=18.4) == (-33.9, 18.4)
    with pytest.raises(ValueError, match="both"):
        locate("aws", "eu-west-3", lat=43.6)
    with pytest.raises(ValueError, match="latitude"):
        locate("aws", "eu-west-3", lat=123.0, lon=1.0)


def test_location_is_frozen() -> None:
    location = lookup("aws", "eu-west-1")
    assert isinstance(location, Location)
    with pytest.raises(dataclasses.FrozenInstanceError):
        location.lat = 0.0  # type: ignore[misc]


@given(points, points)
def test_distance_is_symmetric_bounded_and_non_negative(
    a: tuple[float, float], b: tuple[float, float]
) -> None:
    d = distance_km(a, b)
    assert 0.0 <= d <= 20016
    assert math.isclose(d, distance_km(b, a), rel_tol=1e-12, abs_tol=1e-9)
    assert distance_km(a, a) == 0.0


@given(points, points, points)
def test_distance_triangle_inequality(
    a: tuple[float, float], b: tuple[float, float], c: tuple[float, float]
) -> None:
    assert distance_km(a, c) <= (distance_km(a, b) + distance_km(b, c)) * (1 + 1e-6) + 1e-9
