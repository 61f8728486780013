"""``python -m mixedmodels``: the same as the ``mixedmodels`` command."""

from __future__ import annotations

from .cli import main

raise SystemExit(main())
