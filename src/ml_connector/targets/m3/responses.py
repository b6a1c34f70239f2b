"""Reading MI REST response bodies: the v2 envelope (``results``/``records``) and the v1 one
(``MIRecord``/``NameValue``), with the error wherever M3 put it and whatever the HTTP status was.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ml_connector.errors import ConfigurationError, PermanentError

Record = dict[str, str]

# Error types that mean the deployment is wrong rather than the record.
CONFIGURATION_ERROR_TYPES = frozenset({"TransactionNotFound", "ProgramNotFound"})


class MiError(PermanentError):
    """M3 refused one transaction; the message is M3's own, with its type, code and field."""

    def __init__(
        self,
        program: str,
        transaction: str,
        message: str,
        *,
        error_type: str = "",
        code: str = "",
        field: str = "",
    ) -> None:
        detail = ", ".join(part for part in (error_type, code, f"field {field}" if field else "") if part)
        text = f"{program}.{transaction}: {message}" + (f" ({detail})" if detail else "")
        super().__init__(text, target_message=message, field=field or None)
        self.program = program
        self.transaction = transaction
        self.error_type = error_type
        self.code = code


class MiConfigurationError(ConfigurationError):
    """The MI program or transaction does not exist on this tenant."""


@dataclass
class MiResult:
    transaction: str
    records: list[Record] = field(default_factory=list)
    error: MiError | None = None

    def raise_for_error(self) -> list[Record]:
        if self.error is not None:
            if self.error.error_type in CONFIGURATION_ERROR_TYPES:
                raise MiConfigurationError(str(self.error))
            raise self.error
        return self.records


def _clean(record: dict) -> Record:
    return {str(k): ("" if v is None else str(v)).rstrip() for k, v in record.items()}


def _error(program: str, transaction: str, source: dict, keys: tuple[str, str, str, str]) -> MiError:
    message_key, type_key, code_key, field_key = keys
    return MiError(
        program,
        transaction,
        str(source.get(message_key) or "M3 returned an error without a message").strip(),
        error_type=str(source.get(type_key) or "").strip(),
        code=str(source.get(code_key) or "").strip(),
        field=str(source.get(field_key) or "").strip(),
    )


V2_KEYS = ("errorMessage", "errorType", "errorCode", "errorField")
V1_KEYS = ("Message", "@type", "@code", "@field")


def parse_body(body: object, program: str, transaction: str = "") -> list[MiResult]:
    """All results in a body, in request order (one for a single call, one per transaction in bulk)."""
    if not isinstance(body, dict):
        return [
            MiResult(transaction, error=MiError(program, transaction, "the MI response is not a JSON object"))
        ]
    if "results" in body and isinstance(body["results"], list):
        results = []
        for item in body["results"]:
            name = str(item.get("transaction") or transaction)
            if item.get("errorMessage") or item.get("errorType") or item.get("errorCode"):
                results.append(MiResult(name, error=_error(program, name, item, V2_KEYS)))
            else:
                results.append(MiResult(name, [_clean(r) for r in item.get("records") or []]))
        if not results and body.get("wasTerminated"):
            results.append(MiResult(transaction, error=_terminated(program, transaction, body)))
        return results
    if body.get("errorMessage") or body.get("errorType"):
        return [MiResult(transaction, error=_error(program, transaction, body, V2_KEYS))]
    if body.get("wasTerminated"):
        return [MiResult(transaction, error=_terminated(program, transaction, body))]
    if body.get("@type") or body.get("Message"):
        return [
            MiResult(
                str(body.get("Transaction") or transaction), error=_error(program, transaction, body, V1_KEYS)
            )
        ]
    # v1 success (MIRecord may be missing or empty for "no rows"); a list that failed part-way has
    # its rows in MIRecord plus an ErrorMessage object: the error wins, nothing is half-read.
    name = str(body.get("Transaction") or transaction)
    if isinstance(body.get("ErrorMessage"), dict):
        return [MiResult(name, error=_error(program, name, body["ErrorMessage"], V1_KEYS))]
    records = []
    for row in body.get("MIRecord") or []:
        records.append(_clean({nv.get("Name"): nv.get("Value") for nv in row.get("NameValue") or []}))
    return [MiResult(name, records)]


def _terminated(program: str, transaction: str, body: dict) -> MiError:
    return MiError(
        program,
        transaction,
        str(body.get("terminationReason") or "the MI call was terminated").strip(),
        error_type=str(body.get("terminationErrorType") or "").strip(),
    )
