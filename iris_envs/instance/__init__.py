"""One IRIS container: created, spoken to (ObjectScript sessions, recipes), waited for.

May import: cache, config, engine.
"""
