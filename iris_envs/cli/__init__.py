"""The command line: the entry point and one module per verb.

May import: every stage and the integrations (pytest plugin, nox, testcontainers, dbapi).
"""
