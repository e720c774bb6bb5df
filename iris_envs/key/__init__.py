"""Key: the snapshot cache key over every input, and why two keys differ.

May import: fixtures, instance, cache, config, engine.
"""
