"""Infor M3 / CloudSuite through the ION API gateway: .ionapi, token, MI REST client, ERP adapter."""

from ml_connector.targets.m3.gls840 import DOCUMENTED_LAYOUT, ParmField, ParmLayout
from ml_connector.targets.m3.ionapi import IonApiFile, load_ionapi, parse_ionapi
from ml_connector.targets.m3.mi import MiClient
from ml_connector.targets.m3.responses import MiConfigurationError, MiError
from ml_connector.targets.m3.settings import M3Settings
from ml_connector.targets.m3.target import M3Target
from ml_connector.targets.m3.token import IonTokenClient

__all__ = [
    "DOCUMENTED_LAYOUT",
    "IonApiFile",
    "IonTokenClient",
    "M3Settings",
    "M3Target",
    "MiClient",
    "MiConfigurationError",
    "MiError",
    "ParmField",
    "ParmLayout",
    "load_ionapi",
    "parse_ionapi",
]
