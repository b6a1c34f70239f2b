"""targets/m3"""
