"""Listings Items (get, patch), Feeds (JSON_LISTINGS_FEED with a per-SKU processing report),
Tokens (createRestrictedDataToken) and Sellers (getMarketplaceParticipations)."""

from __future__ import annotations

import json
import secrets
from decimal import Decimal, InvalidOperation

from starlette.requests import Request
from starlette.responses import Response

from ml_connector.sandbox.amazon import views
from ml_connector.sandbox.amazon.http import (
    ApiError,
    bad_input,
    csv,
    decode_token,
    encode_token,
    fingerprint,
    int_param,
    json_body,
    origin,
)
from ml_connector.sandbox.amazon.reports import _presigned
from ml_connector.sandbox.amazon.state import SELLER_ID, IssuedToken, Listing, SandboxFeed, SandboxState
from ml_connector.sandbox.catalog import MARKETPLACES

PATCH_OPS = {"add", "replace", "merge", "delete"}
DATA_ELEMENTS = {"buyerInfo", "shippingAddress", "buyerTaxInformation"}


def _listing(request: Request, state: SandboxState) -> Listing:
    if request.path_params["sellerId"] != SELLER_ID:
        raise ApiError(403, "Unauthorized", "Access to requested resource is denied.", "Unknown sellerId.")
    markets = csv(request, "marketplaceIds")
    if len(markets) != 1:
        raise bad_input("marketplaceIds must hold exactly one marketplace.")
    listing = state.listings.get((request.path_params["sku"], markets[0]))
    if listing is None:
        raise ApiError(
            404, "NOT_FOUND", f"SKU '{request.path_params['sku']}' not found in marketplace {markets[0]}"
        )
    return listing


def item_json(listing: Listing, included: set[str]) -> dict:
    currency = MARKETPLACES[listing.marketplace_id].currency
    item: dict = {"sku": listing.sku}
    if "summaries" in included:
        item["summaries"] = [
            {
                "marketplaceId": listing.marketplace_id,
                "asin": listing.asin,
                "productType": "PRODUCT",
                "conditionType": "new_new",
                "status": ["BUYABLE", "DISCOVERABLE"],
                "itemName": listing.title,
                "createdDate": views.iso(listing.created),
                "lastUpdatedDate": views.iso(listing.updated),
            }
        ]
    if "attributes" in included:
        item["attributes"] = {
            "purchasable_offer": [
                {
                    "marketplace_id": listing.marketplace_id,
                    "currency": currency,
                    "audience": "ALL",
                    "our_price": [{"schedule": [{"value_with_tax": float(listing.price)}]}],
                }
            ],
            "fulfillment_availability": [
                {"fulfillment_channel_code": "DEFAULT", "quantity": listing.quantity}
            ],
            **listing.attributes,
        }
    if "offers" in included:
        item["offers"] = [
            {
                "marketplaceId": listing.marketplace_id,
                "offerType": "B2C",
                "price": {"currencyCode": currency, "amount": format(listing.price, "f")},
            }
        ]
    if "fulfillmentAvailability" in included:
        item["fulfillmentAvailability"] = [
            {"fulfillmentChannelCode": "DEFAULT", "quantity": listing.quantity}
        ]
    if "issues" in included:
        item["issues"] = []
    return item


async def get_listings_item(request: Request, state: SandboxState, token: IssuedToken) -> dict:
    included = set(csv(request, "includedData")) or {"summaries"}
    return item_json(_listing(request, state), included)


async def search_listings_items(request: Request, state: SandboxState, token: IssuedToken) -> dict:
    """searchListingsItems: the seller's listings in one marketplace, ``pageSize`` (<= 20) at a time."""
    if request.path_params["sellerId"] != SELLER_ID:
        raise ApiError(403, "Unauthorized", "Access to requested resource is denied.", "Unknown sellerId.")
    markets = csv(request, "marketplaceIds")
    if len(markets) != 1:
        raise bad_input("marketplaceIds must hold exactly one marketplace.")
    fp = fingerprint(request, "pageToken")
    offset, _ = decode_token(request.query_params.get("pageToken"), fp)
    size = int_param(request, "pageSize", 10, 1, 20)
    included = set(csv(request, "includedData")) or {"summaries"}
    listings = sorted(
        (item for key, item in state.listings.items() if key[1] == markets[0]), key=lambda item: item.sku
    )
    body: dict = {
        "numberOfResults": len(listings),
        "items": [item_json(item, included) for item in listings[offset : offset + size]],
    }
    if offset + size < len(listings):
        body["pagination"] = {"nextToken": encode_token(offset + size, fp)}
    return body


def apply_patches(state: SandboxState, listing: Listing, patches: list, *, apply: bool) -> list[dict]:
    """Check (and unless previewing, apply) patches; return Amazon-style issues (empty = fine)."""
    issues: list[dict] = []
    updates: dict = {}
    for patch in patches:
        if (
            not isinstance(patch, dict)
            or patch.get("op") not in PATCH_OPS
            or not str(patch.get("path", "")).startswith("/attributes/")
        ):
            issues.append(
                _issue(
                    "4000001",
                    "Each patch needs op (add, replace, merge, delete) and path /attributes/<name>.",
                )
            )
            continue
        name = patch["path"].split("/", 2)[2]
        if "/" in name:
            issues.append(_issue("4000002", "Only top-level attributes can be patched.", name))
            continue
        value = patch.get("value") or []
        try:
            if name == "purchasable_offer":
                price = Decimal(str(value[0]["our_price"][0]["schedule"][0]["value_with_tax"]))
                if price <= 0:
                    raise ValueError
                currency = value[0].get("currency")
                if currency and currency != MARKETPLACES[listing.marketplace_id].currency:
                    issues.append(_issue("99022", f"Currency {currency} is not the marketplace's.", name))
                    continue
                updates["price"] = price.quantize(Decimal("0.01"))
            elif name == "fulfillment_availability":
                quantity = int(value[0]["quantity"])
                if quantity < 0:
                    raise ValueError
                updates["quantity"] = quantity
            else:
                updates.setdefault("attributes", {})[name] = value
        except (KeyError, IndexError, TypeError, ValueError, InvalidOperation):
            issues.append(_issue("99022", f"The value of '{name}' is not valid.", name))
    if apply and not issues:
        with state.lock:
            listing.price = updates.get("price", listing.price)
            listing.quantity = updates.get("quantity", listing.quantity)
            listing.attributes.update(updates.get("attributes", {}))
            listing.updated = state.clock.now()
    return issues


def _issue(code: str, message: str, attribute: str | None = None) -> dict:
    issue = {"code": code, "message": message, "severity": "ERROR", "categories": ["INVALID_ATTRIBUTE"]}
    if attribute:
        issue["attributeNames"] = [attribute]
    return issue


async def patch_listings_item(request: Request, state: SandboxState, token: IssuedToken) -> dict:
    listing = _listing(request, state)
    body = await json_body(request)
    if not body.get("productType") or not isinstance(body.get("patches"), list) or not body["patches"]:
        raise bad_input("productType and patches are required.")
    preview = request.query_params.get("mode") == "VALIDATION_PREVIEW"
    issues = apply_patches(state, listing, body["patches"], apply=not preview)
    state.listing_patches.append({"sku": listing.sku, "marketplaceId": listing.marketplace_id, **body})
    status = "INVALID" if issues else ("VALID" if preview else "ACCEPTED")
    return {"sku": listing.sku, "status": status, "submissionId": secrets.token_hex(16), "issues": issues}


# -- Feeds -----------------------------------------------------------------------------------------


async def create_feed_document(request: Request, state: SandboxState, token: IssuedToken) -> tuple[int, dict]:
    body = await json_body(request)
    if not body.get("contentType"):
        raise bad_input("contentType is required.")
    document_id = f"amzn1.tortuga.4.na.{secrets.token_hex(12)}"
    state.uploads[document_id] = None
    url = f"{origin(request)}/_sandbox/uploads/{document_id}"
    return 201, {"feedDocumentId": document_id, "url": url}


async def upload(request: Request) -> Response:
    state: SandboxState = request.app.state.sandbox
    document_id = request.path_params["documentId"]
    if document_id not in state.uploads:
        return Response("<Error><Code>NoSuchUpload</Code></Error>", 404, media_type="application/xml")
    state.uploads[document_id] = await request.body()
    return Response(status_code=200)


async def create_feed(request: Request, state: SandboxState, token: IssuedToken) -> tuple[int, dict]:
    body = await json_body(request)
    if not body.get("feedType") or not body.get("marketplaceIds") or not body.get("inputFeedDocumentId"):
        raise bad_input("feedType, marketplaceIds and inputFeedDocumentId are required.")
    if state.uploads.get(body["inputFeedDocumentId"]) is None:
        raise bad_input("The input feed document was not uploaded.")
    feed_id = state.next_id() + "021"
    state.feeds[feed_id] = SandboxFeed(
        feed_id=feed_id,
        feed_type=body["feedType"],
        marketplace_ids=list(body["marketplaceIds"]),
        created=state.clock.now(),
        queued_at=state.clock.monotonic(),
        document_id=body["inputFeedDocumentId"],
    )
    return 202, {"feedId": feed_id}


def _process(state: SandboxState, feed: SandboxFeed) -> None:
    """Apply a JSON_LISTINGS_FEED once and store its processing report (schema v2)."""
    raw = state.uploads.get(feed.document_id) or b"{}"
    try:
        document = json.loads(raw)
        messages = document.get("messages") or []
    except (ValueError, AttributeError):
        document, messages = {}, []
    state.feeds_received.append({"feedId": feed.feed_id, "feedType": feed.feed_type, "document": document})
    issues: list[dict] = []
    accepted = 0
    for message in messages:
        sku = message.get("sku")
        listing = state.listings.get((sku, feed.marketplace_ids[0]))
        if listing is None:
            problems = [_issue("18", f"SKU {sku} does not exist in this marketplace.")]
        elif message.get("operationType") in ("PATCH", "PARTIAL_UPDATE"):
            patches = message.get("patches") or [
                {"op": "replace", "path": f"/attributes/{k}", "value": v}
                for k, v in (message.get("attributes") or {}).items()
            ]
            problems = apply_patches(state, listing, patches, apply=True)
        else:
            problems = [
                _issue("4000003", f"operationType {message.get('operationType')} is not supported here.")
            ]
        for problem in problems:
            issues.append(
                {
                    "messageId": message.get("messageId"),
                    "sku": sku,
                    "code": problem["code"],
                    "severity": "ERROR",
                    "message": problem["message"],
                }
            )
        accepted += not problems
    invalid = len(messages) - accepted
    report = {
        "header": {"sellerId": SELLER_ID, "version": "2.0", "feedId": feed.feed_id},
        "issues": issues,
        "summary": {
            "errors": len(issues),
            "warnings": 0,
            "messagesProcessed": len(messages),
            "messagesAccepted": accepted,
            "messagesInvalid": invalid,
        },
    }
    feed.result_document_id = state.add_document(
        json.dumps(report).encode(), "application/json", gzip_it=False
    )


async def get_feed(request: Request, state: SandboxState, token: IssuedToken) -> dict:
    feed = state.feeds.get(request.path_params["feedId"])
    if feed is None:
        raise ApiError(404, "NotFound", "Feed not found.")
    status = feed.status(state.clock.monotonic())
    with state.lock:
        if status == "DONE" and feed.result_document_id is None:
            _process(state, feed)
    data: dict = {
        "feedId": feed.feed_id,
        "feedType": feed.feed_type,
        "marketplaceIds": feed.marketplace_ids,
        "createdTime": views.iso(feed.created),
        "processingStatus": status,
    }
    if status == "DONE":
        data["resultFeedDocumentId"] = feed.result_document_id
    return data


async def get_feed_document(request: Request, state: SandboxState, token: IssuedToken) -> dict:
    document_id = request.path_params["feedDocumentId"]
    if document_id not in state.documents:
        raise ApiError(404, "NotFound", "Feed document not found.")
    return {"feedDocumentId": document_id, "url": _presigned(request, state, document_id)}


# -- Tokens and Sellers ----------------------------------------------------------------------------


async def create_rdt(request: Request, state: SandboxState, token: IssuedToken) -> dict:
    if token.kind != "access":
        raise ApiError(400, "InvalidRequest", "A restricted data token cannot request another one.")
    body = await json_body(request)
    resources = body.get("restrictedResources")
    if not isinstance(resources, list) or not 1 <= len(resources) <= 50:
        raise ApiError(
            400, "InvalidRequest", "Invalid Input", "restrictedResources must hold 1 to 50 resources."
        )
    for resource in resources:
        if (
            not isinstance(resource, dict)
            or resource.get("method") not in ("GET", "PUT", "POST", "DELETE")
            or not str(resource.get("path", "")).startswith("/")
        ):
            raise ApiError(
                400, "InvalidRequest", "Invalid Input", f"Invalid restricted resource {resource!r}."
            )
        if set(resource.get("dataElements") or ()) - DATA_ELEMENTS:
            raise ApiError(400, "InvalidRequest", "Invalid Input", "Unknown dataElements.")
    return {"restrictedDataToken": state.issue("rdt", tuple(resources)), "expiresIn": 3600}


async def marketplace_participations(request: Request, state: SandboxState, token: IssuedToken) -> dict:
    language = {"en_US": "en_US", "en_CA": "en_CA", "en_GB": "en_GB", "de_DE": "de_DE"}
    return {
        "payload": [
            {
                "marketplace": {
                    "id": m.marketplace_id,
                    "name": m.name,
                    "countryCode": m.country_code,
                    "defaultCurrencyCode": m.currency,
                    "defaultLanguageCode": language.get(m.locale, m.locale),
                    "domainName": m.name.lower().replace("amazon.", "www.amazon."),
                },
                "participation": {"isParticipating": True, "hasSuspendedListings": False},
                "storeName": "ML Connector Demo Store",
            }
            for m in MARKETPLACES.values()
        ]
    }


async def get_account(request: Request, state: SandboxState, token: IssuedToken) -> dict:
    """getAccount (Sellers v1): the seller's business, plan and the same participations."""
    address = {
        "addressLine1": "1 Sandbox Street",
        "city": "London",
        "postalCode": "EC1A 1AA",
        "countryCode": "GB",
    }
    participations = (await marketplace_participations(request, state, token))["payload"]
    return {
        "payload": {
            "marketplaceParticipationList": participations,
            "businessType": "PRIVATE_LIMITED",
            "sellingPlan": "PROFESSIONAL",
            "business": {
                "name": "ML Connector Demo Ltd",
                "registeredBusinessAddress": address,
                "companyRegistrationNumber": "00000000",
            },
            "primaryContact": {"name": "Sandbox Seller", "address": address},
        }
    }
