"""Flows: ERP-agnostic business logic over the canonical model and the ERP protocol.

A flow never builds an HTTP request and never decides how an ERP stores a document; it decides what
to post (and whether to post at all), and posts only through the engine's posting protocol.
"""
