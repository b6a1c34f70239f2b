"""sandbox/acumatica"""
