"""targets/acumatica"""
