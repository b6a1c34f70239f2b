"""Faithful simulators of SP-API, ION + M3 and Acumatica, served on loopback only.

They are part of the product: the demo, `ml-connector ping` dry runs and every test run on them.
"""
