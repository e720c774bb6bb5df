"""iris-envs: warm, cached InterSystems IRIS test environments (kept import-free for a fast CLI)."""

__version__ = "0.1.0"
