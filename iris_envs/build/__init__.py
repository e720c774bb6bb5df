"""Build: find or build an environment's snapshot (setup, clean stop, commit, verify).

May import: share and every stage below it.
"""
