"""ERP targets: one adapter per ERP behind the protocol in ``targets.protocol``."""
