"""Settlement engine: an Amazon settlement report becomes balanced GL journals, or is quarantined.

reader.open_report -> mapping.load_mapping -> journal_builder.build_journals; writer writes V2 files.
"""
