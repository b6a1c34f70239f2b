"""sandbox/amazon"""
