"""R13: a quality rule as the checks read it, detached from the database (and light to import: the
checking worker process of a large file imports no database layer)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class RuleSpec:
    """R13: a rule as the checks read it (detached from the database)."""

    item: str
    kind: str
    params: dict[str, Any] = field(default_factory=dict)
