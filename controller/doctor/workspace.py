"""The verdicts joined with what the workspace holds (2 queries): one step that doctor prints and
the daemon turns into metrics. A workspace that can't be asked leaves the verdicts as ARM shows
them, with the reason in `warning`: reading ARM is the part that must not fail for it."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

from ..components import Component, Role
from ..errors import UserError
from .freshness import DEFAULT_LOOKBACK, Freshness, RunQuery, freshness
from .preflight import Verdict, with_freshness


@dataclass(frozen=True)
class Judged:
    verdicts: list[Verdict]
    freshness: Freshness | None = None  # None: the workspace wasn't asked, or didn't answer
    warning: str = ""


def tables_of_roles(components: tuple[Component, ...]) -> dict[str, tuple[str, ...]]:
    """role -> the tables its machines send to (another role's tables don't make a machine stale)."""
    return {role.value: tuple(c.table for c in components if role in c.roles) for role in Role}


def ask_workspace(run: RunQuery, customer_id: str, components: tuple[Component, ...],
                            verdicts: list[Verdict], now: _dt.datetime,
                            lookback: _dt.timedelta = DEFAULT_LOOKBACK) -> Judged:
    try:
        fresh = freshness(run, customer_id, [c.table for c in components], now, lookback)
    except UserError as exc:
        return Judged(verdicts, warning=f"the workspace was not asked, so silent machines can't be told: {exc}")
    warning = (f"the workspace answered in part ({'; '.join(fresh.errors)}): machines it left out are 'unknown'"
               if fresh.partial else "")
    return Judged(with_freshness(verdicts, fresh, tables_of_roles(components)), fresh, warning)
