"""The Amazon side as posting targets (listing updates, listings feeds, shipment confirmations): the
few things that flow back to Amazon go through the same posting protocol as every ERP write."""
