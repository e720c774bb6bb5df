"""Entry point for ``python -m iris_envs``."""

from iris_envs.cli.main import main

raise SystemExit(main())
