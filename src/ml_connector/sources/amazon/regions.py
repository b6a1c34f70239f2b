"""SP-API regions, hosts and marketplaces (SP-API.md §2).

Marketplaces are keyed on the marketplace id, never on the country string (Amazon writes the UK as
"UK" in its docs and "GB" in getMarketplaceParticipations). The base URL of a client can always be
pointed elsewhere (the sandbox); these are only the defaults.
"""

from __future__ import annotations

from dataclasses import dataclass

from ml_connector.errors import ConfigurationError

LWA_TOKEN_URL = "https://api.amazon.com/auth/o2/token"


@dataclass(frozen=True)
class Region:
    code: str  # na | eu | fe
    host: str
    sandbox_host: str
    aws_region: str

    def base_url(self, *, sandbox: bool = False) -> str:
        return f"https://{self.sandbox_host if sandbox else self.host}"


REGIONS: dict[str, Region] = {
    "na": Region(
        "na", "sellingpartnerapi-na.amazon.com", "sandbox.sellingpartnerapi-na.amazon.com", "us-east-1"
    ),
    "eu": Region(
        "eu", "sellingpartnerapi-eu.amazon.com", "sandbox.sellingpartnerapi-eu.amazon.com", "eu-west-1"
    ),
    "fe": Region(
        "fe", "sellingpartnerapi-fe.amazon.com", "sandbox.sellingpartnerapi-fe.amazon.com", "us-west-2"
    ),
}


@dataclass(frozen=True)
class AmazonMarketplace:
    marketplace_id: str
    country_code: str  # ISO 3166 (GB, not UK)
    currency: str
    region: str
    name: str  # seller-facing name, as the settlement report's marketplace-name writes it


_TABLE = """
ATVPDKIKX0DER US USD na Amazon.com
A2EUQ1WTGCTBG2 CA CAD na Amazon.ca
A1AM78C64UM0Y8 MX MXN na Amazon.com.mx
A2Q3Y263D00KWC BR BRL na Amazon.com.br
A1F83G8C2ARO7P GB GBP eu Amazon.co.uk
A1PA6795UKMFR9 DE EUR eu Amazon.de
A13V1IB3VIYZZH FR EUR eu Amazon.fr
APJ6JRA9NG5V4 IT EUR eu Amazon.it
A1RKKUPIHCS9HS ES EUR eu Amazon.es
A1805IZSGTT6HS NL EUR eu Amazon.nl
AMEN7PMS3EDWL BE EUR eu Amazon.com.be
A28R8C7NBKEWEA IE EUR eu Amazon.ie
A2NODRKZP88ZB9 SE SEK eu Amazon.se
A1C3SOZRARQ6R3 PL PLN eu Amazon.pl
A33AVAJ2PDY3EV TR TRY eu Amazon.com.tr
A2VIGQ35RCS4UG AE AED eu Amazon.ae
A17E79C6D8DWNP SA SAR eu Amazon.sa
ARBP9OOSHTCHU EG EGP eu Amazon.eg
A21TJRUUN4KGV IN INR eu Amazon.in
AE08WJ6YKNBMC ZA ZAR eu Amazon.co.za
A1VC38T7YXB528 JP JPY fe Amazon.co.jp
A39IBJ37TRP1C6 AU AUD fe Amazon.com.au
A19VAU5U5O7RUS SG SGD fe Amazon.sg
"""

MARKETPLACES: dict[str, AmazonMarketplace] = {
    fields[0]: AmazonMarketplace(*fields) for fields in (line.split() for line in _TABLE.strip().splitlines())
}


def marketplace(marketplace_id: str) -> AmazonMarketplace:
    """The marketplace for an id, or a ConfigurationError naming the unknown id."""
    try:
        return MARKETPLACES[marketplace_id]
    except KeyError:
        raise ConfigurationError(f"unknown Amazon marketplace id {marketplace_id!r}") from None


def region(code: str) -> Region:
    try:
        return REGIONS[code.lower()]
    except KeyError:
        raise ConfigurationError(f"unknown SP-API region {code!r} (expected na, eu or fe)") from None
