"""ml-connector: Amazon Seller Central into Infor M3 / CloudSuite and Acumatica, exactly once."""

__version__ = "0.1.0"
