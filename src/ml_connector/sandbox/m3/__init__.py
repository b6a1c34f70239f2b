"""sandbox/m3"""
