"""Cache: the local cache folder, file hashes, snapshot index, prune and orphan collection.

May import: config, engine and the top-level modules below them.
"""
