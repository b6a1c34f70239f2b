"""sources/amazon"""
