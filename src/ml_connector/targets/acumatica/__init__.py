"""Acumatica through the contract-based REST API (Default endpoint, version-locked URLs)."""

from ml_connector.targets.acumatica.client import AcumaticaClient
from ml_connector.targets.acumatica.settings import AcumaticaCredentials, AcumaticaSettings
from ml_connector.targets.acumatica.target import AcumaticaTarget

__all__ = ["AcumaticaClient", "AcumaticaCredentials", "AcumaticaSettings", "AcumaticaTarget"]
