"""Config: find and read pyproject.toml or iris-envs.toml into validated EnvSpecs.

May import: engine and the top-level errors, naming, progress.
"""
