"""The SP-API operations ml-connector calls, one module per API family (orders, finances, reports,
listings, feeds, tokens, sellers), as functions over an ``SpApiClient``: its one transport, its
buckets, its retry policy and its clock. ``SpApiClient`` binds them as its methods, so callers keep
writing ``client.search_orders(...)``. Every paged operation goes through ``paging.follow``.
"""
