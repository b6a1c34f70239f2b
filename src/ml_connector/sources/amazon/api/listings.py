"""Listings Items 2021-08-01: read a listing, page through the seller's listings, patch price and
quantity (patches are replacements: sending one twice leaves the same listing)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from ml_connector.model import Money
from ml_connector.sources.amazon import mapping
from ml_connector.sources.amazon.api.common import get_json, quote_sku
from ml_connector.sources.amazon.api.paging import get_pages, pagination_token
from ml_connector.sources.amazon.resources import ListingState, ListingSubmission
from ml_connector.sources.amazon.transport import parse_json

if TYPE_CHECKING:
    from ml_connector.sources.amazon.client import SpApiClient


def get_listings_item(
    client: SpApiClient,
    sku: str,
    marketplace_id: str,
    *,
    included_data: Iterable[str] = ("summaries", "attributes", "offers", "fulfillmentAvailability"),
) -> dict:
    """The raw Listings Item (attributes are free-form per product type)."""
    return get_json(
        client,
        "getListingsItem",
        f"/listings/2021-08-01/items/{client.seller_id}/{quote_sku(sku)}",
        {"marketplaceIds": [marketplace_id], "includedData": list(included_data)},
    )


def list_listings(client: SpApiClient, marketplace_id: str, *, page_size: int = 20) -> Iterator[ListingState]:
    """Every listing of the seller in a marketplace with its price and quantity
    (searchListingsItems: 20 SKUs per call instead of one getListingsItem each)."""
    params: dict[str, Any] = {
        "marketplaceIds": [marketplace_id],
        "includedData": ["summaries", "offers", "fulfillmentAvailability"],
        "pageSize": page_size,
    }
    for page in get_pages(
        client,
        "searchListingsItems",
        f"/listings/2021-08-01/items/{client.seller_id}",
        params,
        send_as="pageToken",
        next_token=pagination_token,
    ):
        for item in page.get("items") or ():
            yield listing_state(item, marketplace_id)


def get_listing_state(client: SpApiClient, sku: str, marketplace_id: str) -> ListingState:
    return listing_state(
        get_listings_item(
            client, sku, marketplace_id, included_data=("summaries", "offers", "fulfillmentAvailability")
        ),
        marketplace_id,
    )


def patch_listings_item(
    client: SpApiClient,
    sku: str,
    marketplace_id: str,
    patches: list[dict],
    *,
    product_type: str = "PRODUCT",
    validation_preview: bool = False,
) -> ListingSubmission:
    response = client.transport.call(
        "patchListingsItem",
        "PATCH",
        f"/listings/2021-08-01/items/{client.seller_id}/{quote_sku(sku)}",
        params={
            "marketplaceIds": [marketplace_id],
            "mode": "VALIDATION_PREVIEW" if validation_preview else None,
        },
        body={"productType": product_type, "patches": patches},
    )
    data = parse_json(response)
    return ListingSubmission(
        sku=data["sku"],
        status=data["status"],
        submission_id=data["submissionId"],
        issues=tuple(f"{i.get('code')}: {i.get('message')}" for i in data.get("issues") or ()),
    )


def price_patch(marketplace_id: str, price: Money) -> dict:
    """The patch that sets a listing's price (replaces the whole purchasable_offer)."""
    return {
        "op": "replace",
        "path": "/attributes/purchasable_offer",
        "value": [
            {
                "marketplace_id": marketplace_id,
                "currency": price.currency,
                "audience": "ALL",
                "our_price": [{"schedule": [{"value_with_tax": price.quantized().amount}]}],
            }
        ],
    }


def quantity_patch(quantity: int) -> dict:
    """The patch that sets a seller-fulfilled listing's available quantity."""
    return {
        "op": "replace",
        "path": "/attributes/fulfillment_availability",
        "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": int(quantity)}],
    }


def listing_state(item: dict, marketplace_id: str) -> ListingState:
    summary: dict = next(
        (x for x in item.get("summaries") or () if x.get("marketplaceId") == marketplace_id), {}
    )
    offer = next(
        (
            x
            for x in item.get("offers") or ()
            if x.get("marketplaceId") == marketplace_id and x.get("offerType") == "B2C"
        ),
        None,
    )
    quantity = next(
        (
            x.get("quantity")
            for x in item.get("fulfillmentAvailability") or ()
            if x.get("fulfillmentChannelCode") == "DEFAULT"
        ),
        None,
    )
    return ListingState(
        sku=item["sku"],
        marketplace_id=marketplace_id,
        asin=summary.get("asin"),
        price=mapping.money(offer.get("price")) if offer else None,
        quantity=quantity,
    )
