"""Validate HTTP responses against Amazon's Swagger 2.0 models.

Each response schema is validated with a Draft-4 validator whose root carries the model's
``definitions``, so ``#/definitions/...`` refs resolve as in the model file.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from jsonschema import Draft4Validator

MODELS = Path(__file__).parent / "models"
MODEL_FILES = (
    "orders_2026-01-01.json",
    "ordersV0.json",
    "financesV0.json",
    "finances_2024-06-19.json",
    "transfers_2024-06-01.json",
    "reports_2021-06-30.json",
    "feeds_2021-06-30.json",
    "tokens_2021-03-01.json",
    "listingsItems_2021-08-01.json",
    "sellers.json",
)


@dataclass
class Operation:
    model: str
    operation_id: str
    method: str
    template: str
    pattern: re.Pattern
    responses: dict
    definitions: dict
    body_schema: dict | None = None

    def validator(self, status: int) -> Draft4Validator | None:
        response = self.responses.get(str(status)) or self.responses.get("default")
        if not response or "schema" not in response:
            return None
        return Draft4Validator({**response["schema"], "definitions": self.definitions})


class Models:
    def __init__(self) -> None:
        self.operations: list[Operation] = []
        for name in MODEL_FILES:
            spec = json.loads((MODELS / name).read_text())
            for template, methods in spec["paths"].items():
                pattern = re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$")
                for method, op in methods.items():
                    if method == "parameters":
                        continue
                    body = next(
                        (p["schema"] for p in op.get("parameters", []) if p.get("in") == "body"), None
                    )
                    self.operations.append(
                        Operation(
                            name,
                            op["operationId"],
                            method.upper(),
                            template,
                            pattern,
                            op["responses"],
                            spec["definitions"],
                            body,
                        )
                    )
        # literal paths before templated ones (e.g. /documents before /{reportId})
        self.operations.sort(key=lambda o: o.template.count("{"))

    def find(self, method: str, path: str) -> Operation | None:
        return next((o for o in self.operations if o.method == method and o.pattern.match(path)), None)

    def errors(self, method: str, path: str, status: int, body: object) -> list[str]:
        operation = self.find(method, path)
        if operation is None:
            return [f"no model operation for {method} {path}"]
        validator = operation.validator(status)
        if validator is None:
            return (
                []
                if body in (None, b"", "")
                else [f"{operation.operation_id} {status}: body where the model has none"]
            )
        return [
            f"{operation.operation_id} {status}: {e.message} at {list(e.absolute_path)}"
            for e in validator.iter_errors(body)
        ]

    def request_errors(self, method: str, path: str, body: object) -> list[str]:
        """A client request body checked against the operation's body parameter schema."""
        operation = self.find(method, path)
        if operation is None:
            return [f"no model operation for {method} {path}"]
        if operation.body_schema is None:
            return [] if body is None else [f"{operation.operation_id}: a body where the model takes none"]
        validator = Draft4Validator({**operation.body_schema, "definitions": operation.definitions})
        return [f"{operation.operation_id} request: {e.message}" for e in validator.iter_errors(body)]


def feed_validator():
    from jsonschema import Draft7Validator

    return Draft7Validator(json.loads((MODELS / "listings-feed-schema-v2.json").read_text()))


def processing_report_validator() -> Draft4Validator:
    from jsonschema import Draft7Validator

    return Draft7Validator(
        json.loads((MODELS / "listings-feed-processing-report-schema-v2.json").read_text())
    )
