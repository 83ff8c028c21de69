"""Where cloud regions are, and how far apart two places are.

The backup geo-separation check needs to prove that a copy is physically far from what it
protects (an OVH customer lost everything in the 2021 Strasbourg fire because its backups sat
in the same building). This module gives it a built-in catalogue of provider regions with the
coordinates of their city, and the great-circle distance between two points.

Coordinates are those of the region's city (2 decimals), not of a data-centre building: they
are accurate to tens of km, which is what a minimum-distance policy ("copies at least 100 km
apart") needs. Where a provider names only a state or a country, the point is the commonly
cited city for that region; a site that knows better gives its own ``lat``/``lon``, which
always win (:func:`locate`).

Providers are ``aws``, ``gcp`` (alias ``google``), ``azure``, ``ovh`` (alias ``ovhcloud``),
``scaleway`` and ``hetzner``. Region lookup is case-insensitive, and also accepts a zone or
data-centre name of a known region: ``us-east-1a``, ``europe-west1-b``, ``GRA11``,
``eu-west-par-a``, ``fr-par-2``, ``fsn1-dc14``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

EARTH_RADIUS_KM = 6371.0088  # mean Earth radius (IUGG)


@dataclass(frozen=True)
class Location:
    """A provider region and where it is (the city, see the module docstring)."""

    provider: str
    region: str
    city: str
    country: str  # ISO 3166-1 alpha-2
    lat: float
    lon: float

    @property
    def point(self) -> tuple[float, float]:
        return (self.lat, self.lon)


# One line per region: region|city|country|lat|lon. The region keeps the provider's spelling.
_CATALOGUE: dict[str, str] = {
    "aws": """
        us-east-1|Ashburn, Virginia|US|39.04|-77.49
        us-east-2|Columbus, Ohio|US|39.96|-83.00
        us-west-1|San Francisco, California|US|37.77|-122.42
        us-west-2|Boardman, Oregon|US|45.84|-119.70
        us-gov-west-1|Oregon|US|45.52|-122.68
        us-gov-east-1|Columbus, Ohio|US|39.96|-83.00
        ca-central-1|Montréal|CA|45.50|-73.57
        ca-west-1|Calgary|CA|51.05|-114.07
        mx-central-1|Querétaro|MX|20.59|-100.39
        sa-east-1|São Paulo|BR|-23.55|-46.63
        af-south-1|Cape Town|ZA|-33.92|18.42
        eu-central-1|Frankfurt|DE|50.11|8.68
        eu-central-2|Zurich|CH|47.37|8.54
        eu-west-1|Dublin|IE|53.35|-6.26
        eu-west-2|London|GB|51.51|-0.13
        eu-west-3|Paris|FR|48.86|2.35
        eu-south-1|Milan|IT|45.46|9.19
        eu-south-2|Zaragoza, Aragón|ES|41.65|-0.88
        eu-north-1|Stockholm|SE|59.33|18.07
        il-central-1|Tel Aviv|IL|32.09|34.78
        me-south-1|Manama|BH|26.23|50.59
        me-central-1|Dubai|AE|25.20|55.27
        ap-east-1|Hong Kong|HK|22.32|114.17
        ap-east-2|Taipei|TW|25.03|121.57
        ap-south-1|Mumbai|IN|19.08|72.88
        ap-south-2|Hyderabad|IN|17.39|78.49
        ap-southeast-1|Singapore|SG|1.35|103.82
        ap-southeast-2|Sydney|AU|-33.87|151.21
        ap-southeast-3|Jakarta|ID|-6.21|106.85
        ap-southeast-4|Melbourne|AU|-37.81|144.96
        ap-southeast-5|Kuala Lumpur|MY|3.14|101.69
        ap-southeast-6|Auckland|NZ|-36.85|174.76
        ap-southeast-7|Bangkok|TH|13.76|100.50
        ap-northeast-1|Tokyo|JP|35.68|139.69
        ap-northeast-2|Seoul|KR|37.57|126.98
        ap-northeast-3|Osaka|JP|34.69|135.50
        cn-north-1|Beijing|CN|39.90|116.41
        cn-northwest-1|Zhongwei, Ningxia|CN|37.51|105.19
    """,
    "gcp": """
        us-central1|Council Bluffs, Iowa|US|41.26|-95.86
        us-east1|Moncks Corner, South Carolina|US|33.20|-80.01
        us-east4|Ashburn, Virginia|US|39.04|-77.49
        us-east5|Columbus, Ohio|US|39.96|-83.00
        us-south1|Dallas, Texas|US|32.78|-96.80
        us-west1|The Dalles, Oregon|US|45.59|-121.18
        us-west2|Los Angeles, California|US|34.05|-118.24
        us-west3|Salt Lake City, Utah|US|40.76|-111.89
        us-west4|Las Vegas, Nevada|US|36.17|-115.14
        northamerica-northeast1|Montréal|CA|45.50|-73.57
        northamerica-northeast2|Toronto|CA|43.65|-79.38
        northamerica-south1|Querétaro|MX|20.59|-100.39
        southamerica-east1|Osasco, São Paulo|BR|-23.53|-46.79
        southamerica-west1|Santiago|CL|-33.45|-70.67
        europe-west1|St. Ghislain|BE|50.45|3.82
        europe-west2|London|GB|51.51|-0.13
        europe-west3|Frankfurt|DE|50.11|8.68
        europe-west4|Eemshaven|NL|53.44|6.83
        europe-west6|Zurich|CH|47.37|8.54
        europe-west8|Milan|IT|45.46|9.19
        europe-west9|Paris|FR|48.86|2.35
        europe-west10|Berlin|DE|52.52|13.40
        europe-west12|Turin|IT|45.07|7.69
        europe-central2|Warsaw|PL|52.23|21.01
        europe-north1|Hamina|FI|60.57|27.20
        europe-north2|Stockholm|SE|59.33|18.07
        europe-southwest1|Madrid|ES|40.42|-3.70
        me-west1|Tel Aviv|IL|32.09|34.78
        me-central1|Doha|QA|25.29|51.53
        me-central2|Dammam|SA|26.43|50.10
        africa-south1|Johannesburg|ZA|-26.20|28.05
        asia-east1|Changhua County|TW|24.05|120.52
        asia-east2|Hong Kong|HK|22.32|114.17
        asia-northeast1|Tokyo|JP|35.68|139.69
        asia-northeast2|Osaka|JP|34.69|135.50
        asia-northeast3|Seoul|KR|37.57|126.98
        asia-south1|Mumbai|IN|19.08|72.88
        asia-south2|Delhi|IN|28.61|77.21
        asia-southeast1|Jurong West, Singapore|SG|1.34|103.71
        asia-southeast2|Jakarta|ID|-6.21|106.85
        australia-southeast1|Sydney|AU|-33.87|151.21
        australia-southeast2|Melbourne|AU|-37.81|144.96
    """,
    "azure": """
        eastus|Virginia|US|37.37|-79.82
        eastus2|Boydton, Virginia|US|36.67|-78.39
        centralus|Des Moines, Iowa|US|41.59|-93.62
        northcentralus|Chicago, Illinois|US|41.88|-87.63
        southcentralus|San Antonio, Texas|US|29.42|-98.49
        westcentralus|Cheyenne, Wyoming|US|41.14|-104.82
        westus|San Francisco, California|US|37.77|-122.42
        westus2|Quincy, Washington|US|47.23|-119.85
        westus3|Phoenix, Arizona|US|33.45|-112.07
        canadacentral|Toronto|CA|43.65|-79.38
        canadaeast|Québec City|CA|46.81|-71.21
        mexicocentral|Querétaro|MX|20.59|-100.39
        brazilsouth|São Paulo|BR|-23.55|-46.63
        brazilsoutheast|Rio de Janeiro|BR|-22.91|-43.17
        chilecentral|Santiago|CL|-33.45|-70.67
        westeurope|Amsterdam|NL|52.37|4.90
        northeurope|Dublin|IE|53.35|-6.26
        francecentral|Paris|FR|48.86|2.35
        francesouth|Marseille|FR|43.30|5.37
        germanywestcentral|Frankfurt|DE|50.11|8.68
        germanynorth|Berlin|DE|52.52|13.40
        uksouth|London|GB|51.51|-0.13
        ukwest|Cardiff|GB|51.48|-3.18
        switzerlandnorth|Zurich|CH|47.37|8.54
        switzerlandwest|Geneva|CH|46.20|6.14
        swedencentral|Gävle|SE|60.67|17.14
        norwayeast|Oslo|NO|59.91|10.75
        norwaywest|Stavanger|NO|58.97|5.73
        polandcentral|Warsaw|PL|52.23|21.01
        italynorth|Milan|IT|45.46|9.19
        spaincentral|Madrid|ES|40.42|-3.70
        israelcentral|Tel Aviv|IL|32.09|34.78
        qatarcentral|Doha|QA|25.29|51.53
        uaenorth|Dubai|AE|25.20|55.27
        uaecentral|Abu Dhabi|AE|24.47|54.37
        southafricanorth|Johannesburg|ZA|-26.20|28.05
        southafricawest|Cape Town|ZA|-33.92|18.42
        centralindia|Pune|IN|18.52|73.86
        southindia|Chennai|IN|13.08|80.27
        westindia|Mumbai|IN|19.08|72.88
        jioindiawest|Jamnagar|IN|22.47|70.06
        jioindiacentral|Nagpur|IN|21.15|79.09
        southeastasia|Singapore|SG|1.35|103.82
        eastasia|Hong Kong|HK|22.32|114.17
        japaneast|Tokyo|JP|35.68|139.69
        japanwest|Osaka|JP|34.69|135.50
        koreacentral|Seoul|KR|37.57|126.98
        koreasouth|Busan|KR|35.18|129.08
        indonesiacentral|Jakarta|ID|-6.21|106.85
        malaysiawest|Kuala Lumpur|MY|3.14|101.69
        australiaeast|Sydney|AU|-33.87|151.21
        australiasoutheast|Melbourne|AU|-37.81|144.96
        australiacentral|Canberra|AU|-35.28|149.13
        australiacentral2|Canberra|AU|-35.28|149.13
        newzealandnorth|Auckland|NZ|-36.85|174.76
    """,
    "ovh": """
        GRA|Gravelines|FR|50.99|2.13
        SBG|Strasbourg|FR|48.58|7.75
        RBX|Roubaix|FR|50.69|3.17
        eu-west-par|Paris|FR|48.86|2.35
        BHS|Beauharnois|CA|45.32|-73.87
        WAW|Warsaw|PL|52.23|21.01
        DE|Limburg an der Lahn (Frankfurt)|DE|50.39|8.06
        LIM|Limburg an der Lahn (Frankfurt)|DE|50.39|8.06
        UK|Erith (London)|GB|51.48|0.18
        SGP|Singapore|SG|1.35|103.82
        SYD|Sydney|AU|-33.87|151.21
    """,
    "scaleway": """
        fr-par|Paris|FR|48.86|2.35
        nl-ams|Amsterdam|NL|52.37|4.90
        pl-waw|Warsaw|PL|52.23|21.01
    """,
    "hetzner": """
        fsn1|Falkenstein|DE|50.48|12.37
        nbg1|Nuremberg|DE|49.45|11.08
        hel1|Helsinki|FI|60.17|24.94
        ash|Ashburn, Virginia|US|39.04|-77.49
        hil|Hillsboro, Oregon|US|45.52|-122.99
        sin|Singapore|SG|1.35|103.82
    """,
}

_PROVIDER_ALIASES = {"google": "gcp", "ovhcloud": "ovh"}

# A zone or data-centre name of a known region, tried only when the exact name is unknown:
# us-east-1a, europe-west1-b, GRA11 / DE1 / eu-west-par-a, fr-par-2, fsn1-dc14.
_ZONE_SUFFIX: dict[str, re.Pattern[str]] = {
    "aws": re.compile(r"[a-z]$"),
    "gcp": re.compile(r"-[a-z]$"),
    "ovh": re.compile(r"(?:-?\d+|-[a-z])$"),
    "scaleway": re.compile(r"-\d+$"),
    "hetzner": re.compile(r"-dc\d+$"),
}

_COUNTRY = re.compile(r"^[A-Z]{2}$")


def _check_point(lat: float, lon: float) -> None:
    if not (math.isfinite(lat) and -90.0 <= lat <= 90.0):
        raise ValueError(f"latitude must be within [-90, 90], got {lat!r}")
    if not (math.isfinite(lon) and -180.0 <= lon <= 180.0):
        raise ValueError(f"longitude must be within [-180, 180], got {lon!r}")


def _parse(provider: str, table: str) -> dict[str, Location]:
    entries: dict[str, Location] = {}
    for line in table.strip().splitlines():
        region, city, country, lat, lon = (field.strip() for field in line.split("|"))
        location = Location(provider, region, city, country, float(lat), float(lon))
        _check_point(location.lat, location.lon)
        if not _COUNTRY.match(country):
            raise ValueError(f"{provider}/{region}: country {country!r} is not ISO alpha-2")
        if region.lower() in entries:
            raise ValueError(f"{provider}/{region}: listed twice")
        entries[region.lower()] = location
    return entries


_LOCATIONS: dict[str, dict[str, Location]] = {
    provider: _parse(provider, table) for provider, table in _CATALOGUE.items()
}


def canonical_provider(provider: str) -> str | None:
    """The catalogue's name for a provider (``google`` -> ``gcp``), or None if unknown."""
    name = provider.strip().lower()
    name = _PROVIDER_ALIASES.get(name, name)
    return name if name in _LOCATIONS else None


def known_providers() -> tuple[str, ...]:
    """The canonical names of the providers in the catalogue, sorted."""
    return tuple(sorted(_LOCATIONS))


def regions(provider: str) -> tuple[str, ...]:
    """The region codes known for a provider (its own spelling), sorted; empty if unknown."""
    name = canonical_provider(provider)
    if name is None:
        return ()
    return tuple(sorted((loc.region for loc in _LOCATIONS[name].values()), key=str.lower))


def lookup(provider: str, region: str) -> Location | None:
    """The catalogue entry for a provider's region (case-insensitive), or None if unknown.

    A zone or data-centre name resolves to its region (``us-east-1a`` -> ``us-east-1``).
    """
    name = canonical_provider(provider)
    if name is None:
        return None
    table = _LOCATIONS[name]
    key = region.strip().lower()
    if key in table:
        return table[key]
    suffix = _ZONE_SUFFIX.get(name)
    if suffix is not None:
        stripped = suffix.sub("", key)
        if stripped != key:
            return table.get(stripped)
    return None


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance in km between two (lat, lon) points in degrees (haversine).

    The haversine ``h`` and ``1 - h`` are both computed as sums of squares, so the result
    stays accurate for nearly antipodal points, where ``asin(sqrt(h))`` loses precision.
    """
    _check_point(*a)
    _check_point(*b)
    lat1, lon1 = math.radians(a[0]), math.radians(a[1])
    lat2, lon2 = math.radians(b[0]), math.radians(b[1])
    half_dlat, half_dlon, half_sum = (lat2 - lat1) / 2, (lon2 - lon1) / 2, (lat1 + lat2) / 2
    sin_dlon, cos_dlon = math.sin(half_dlon), math.cos(half_dlon)
    root_h = math.hypot(math.sin(half_dlat) * cos_dlon, math.cos(half_sum) * sin_dlon)
    root_1mh = math.hypot(math.cos(half_dlat) * cos_dlon, math.sin(half_sum) * sin_dlon)
    return 2 * EARTH_RADIUS_KM * math.atan2(root_h, root_1mh)


def locate(
    provider: str | None,
    region: str | None,
    lat: float | None = None,
    lon: float | None = None,
) -> tuple[float, float] | None:
    """Where a site is: its explicit ``lat``/``lon`` if given, else its catalogue region.

    Returns None when there are no coordinates and the provider or region is unknown.
    Raises ValueError when only one of ``lat``/``lon`` is given or either is out of range.
    """
    if lat is not None or lon is not None:
        if lat is None or lon is None:
            raise ValueError("give both lat and lon, or neither")
        _check_point(lat, lon)
        return (lat, lon)
    if provider is None or region is None:
        return None
    location = lookup(provider, region)
    return None if location is None else location.point
