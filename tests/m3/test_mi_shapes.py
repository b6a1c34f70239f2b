"""MI response bodies in both envelopes, errors wherever M3 puts them, and the sandbox's metadata
checked against the reference MI metadata (the official field lists)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml_connector.sandbox.m3.metadata import SHIPPED, extract, load
from ml_connector.targets.m3.responses import MiConfigurationError, MiError, parse_body

# The reference lives beside the checkout (shared/reference next to it), wherever that is.
REFERENCE = Path(__file__).resolve().parents[2] / ".." / "shared" / "reference" / "infor" / "metadata"


@pytest.fixture(autouse=False)
def reference() -> Path:
    """Fails, never skips, when the reference metadata is missing: the check would prove nothing."""
    assert REFERENCE.is_dir(), (
        f"the M3 MI reference metadata is missing at {REFERENCE.resolve()}: check out shared/reference "
        "beside this checkout"
    )
    return REFERENCE


def test_v2_records_are_trimmed():
    body = {
        "results": [
            {"transaction": "GetItmWhsBal", "records": [{"WHLO": "100", "ITNO": "AB-1001  ", "AV01": "37"}]}
        ],
        "wasTerminated": False,
        "nrOfSuccessfullTransactions": 1,
        "nrOfFailedTransactions": 0,
    }
    [result] = parse_body(body, "MMS200MI", "GetItmWhsBal")
    assert result.raise_for_error() == [{"WHLO": "100", "ITNO": "AB-1001", "AV01": "37"}]


def test_v2_error_inside_the_result():
    body = {
        "results": [
            {
                "transaction": "Add",
                "errorMessage": "Customer number AMZDE already exists",
                "errorType": "ServerReturnedNOK",
                "errorCode": "WCU0201",
                "errorField": "CUNO",
            }
        ],
        "nrOfFailedTransactions": 1,
    }
    [result] = parse_body(body, "CRS610MI", "Add")
    with pytest.raises(MiError) as caught:
        result.raise_for_error()
    error = caught.value
    assert (error.error_type, error.code, error.field) == ("ServerReturnedNOK", "WCU0201", "CUNO")
    assert error.target_message == "Customer number AMZDE already exists"
    assert "CRS610MI.Add" in str(error)


def test_v2_error_at_top_level_and_terminated():
    [result] = parse_body({"errorMessage": "Bad", "errorType": "ServerReturnedNOK"}, "OIS100MI", "GetHead")
    assert result.error is not None and result.error.target_message == "Bad"
    [result] = parse_body(
        {"wasTerminated": True, "terminationReason": "Timeout", "terminationErrorType": "X"}, "P", "T"
    )
    assert result.error is not None and result.error.target_message == "Timeout"


def test_transaction_not_found_is_a_configuration_error():
    [result] = parse_body(
        {"results": [{"transaction": "Nope", "errorMessage": "x", "errorType": "TransactionNotFound"}]},
        "P",
        "Nope",
    )
    with pytest.raises(MiConfigurationError):
        result.raise_for_error()


def test_v1_success_error_and_partial_list():
    body = {
        "Program": "CRS610MI",
        "Transaction": "GetBasicData",
        "MIRecord": [
            {
                "RowIndex": 0,
                "NameValue": [
                    {"Name": "CUNO", "Value": "AMZDE     "},
                    {"Name": "CUNM", "Value": "Amazon.de   "},
                ],
            }
        ],
    }
    assert parse_body(body, "CRS610MI", "GetBasicData")[0].raise_for_error() == [
        {"CUNO": "AMZDE", "CUNM": "Amazon.de"}
    ]
    assert parse_body({"Program": "CRS610MI", "Transaction": "LstByNumber"}, "CRS610MI")[0].records == []
    error = {
        "@type": "ServerReturnedNOK",
        "@code": "WCU0203",
        "@field": "CUNO",
        "@cfg": None,
        "Message": "Customer number ZZZ does not exist     ",
    }
    [result] = parse_body(error, "CRS610MI", "GetBasicData")
    assert (
        result.error is not None
        and result.error.code == "WCU0203"
        and result.error.target_message == "Customer number ZZZ does not exist"
    )
    partial = {**body, "ErrorMessage": {"@type": "ServerReturnedNOK", "Message": "Record lock"}}
    assert parse_body(partial, "CRS610MI")[0].error is not None  # no half-read lists


@pytest.mark.usefixtures("reference")
def test_shipped_metadata_matches_the_reference():
    import json

    assert json.loads(SHIPPED.read_text()) == json.loads(json.dumps(extract(REFERENCE)))


@pytest.mark.usefixtures("reference")
def test_every_field_the_adapter_sends_exists_in_the_reference():
    """The adapter's inputs, transaction by transaction, against the official MI field lists."""
    import json

    sent = {
        ("GLS840MI", "AddBatchHead"): {"CONO", "KEY1", "INTN", "DESC", "DIVI"},
        ("GLS840MI", "AddBatchLine"): {"CONO", "KEY1", "LINE", "PARM", "DIVI"},
        ("GLS200MI", "LstVouchersByDt"): {"FRDT", "TODT", "DIVI"},
        ("CRS610MI", "Add"): {
            "CONO",
            "CUTM",
            "CUNM",
            "CUA1",
            "CUA2",
            "TOWN",
            "PONO",
            "PHNO",
            "CSCD",
            "YREF",
            "YRE2",
        },
        ("OIS100MI", "AddBatchHead"): {
            "CONO",
            "CUNO",
            "ORTP",
            "FACI",
            "WHLO",
            "CUOR",
            "ORDT",
            "CUCD",
            "YREF",
        },
        ("OIS100MI", "AddBatchAddress"): {
            "CONO",
            "ORNO",
            "ADRT",
            "CUNM",
            "CUA1",
            "CUA2",
            "TOWN",
            "PONO",
            "CSCD",
            "PHNO",
            "ECAR",
        },
        ("OIS100MI", "AddBatchLine"): {"CONO", "ORNO", "ITNO", "ORQT", "SAPR", "WHLO", "CUOR"},
        ("MMS025MI", "GetItem"): {"CONO", "ALWT", "POPN", "ALWQ"},
        ("MMS200MI", "GetItmWhsBal"): {"CONO", "WHLO", "ITNO"},
        ("MWS410MI", "GetHead"): {"CONO", "DLIX"},
    }
    for (program, transaction), fields in sent.items():
        source = json.loads((REFERENCE / f"{program}.json").read_text())
        tx = next(t for t in source["transactions"] if t["transaction"] == transaction)
        assert fields <= {row[0] for row in tx["inputs"]}, (program, transaction)
    catalog = load()
    assert catalog.get("OIS100MI", "AddBatchLine").mandatory == ("ORNO", "ITNO")


@pytest.mark.usefixtures("reference")
def test_every_field_the_adapter_reads_is_an_output_in_the_reference():
    import json

    read = {
        ("GLS200MI", "LstVouchersByDt"): {"DIVI", "YEA4", "VSER", "VONO", "VTXT", "CUAM", "CUCD"},
        ("CRS610MI", "Add"): {"CUNO"},
        ("CRS610MI", "LstByNumber"): {"CUNO", "YREF", "YRE2"},
        ("OIS100MI", "AddBatchHead"): {"ORNO"},
        ("OIS100MI", "LstBatchHead"): {"ORNO", "CUOR", "ORNR"},
        ("OIS100MI", "LstHead"): {"ORNO", "CUOR", "ORST", "YREF"},
        ("OIS100MI", "Confirm"): {"ORNO"},
        ("OIS100MI", "GetOrderNo"): {"ORNR"},
        ("OIS100MI", "LstErrMsgOrder"): {"MSID", "TX60"},
        ("OIS100MI", "LstLine"): {"PONR", "ORST", "ORQT", "CUOR"},
        ("OIS100MI", "LstDelLineByCO"): {"DLIX", "TRQT"},
        ("MMS025MI", "GetItem"): {"ITNO"},
        ("MMS025MI", "LstAliasViaCat"): {"ITNO", "POPN"},
        ("MMS200MI", "Get"): {"STAT"},
        ("MMS200MI", "LstItmByItm"): {"ITNO", "ITDS", "STAT"},
        ("MMS200MI", "GetItmWhsBal"): {"AV01", "STQT", "ALQT", "REQT", "AV02"},
        ("MWS410MI", "GetHead"): {"FWNO", "ETRN", "DSDT", "DSHM", "MODL"},
    }
    for (program, transaction), fields in read.items():
        source = json.loads((REFERENCE / f"{program}.json").read_text())
        tx = next(t for t in source["transactions"] if t["transaction"] == transaction)
        assert fields <= {row[0] for row in tx["outputs"]}, (
            program,
            transaction,
            fields - {row[0] for row in tx["outputs"]},
        )
