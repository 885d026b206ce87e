"""The verdicts joined with what the workspace holds (2 queries): one step that doctor prints and
the daemon turns into metrics. A workspace that can't be asked leaves the verdicts as ARM shows
them, with the reason in `warning`: reading ARM is the part that must not fail for it."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Callable

from ..components import Component, Role
from ..errors import UserError
from .freshness import DEFAULT_LOOKBACK, Freshness, RunQuery, freshness
from .preflight import Verdict, with_freshness


@dataclass(frozen=True)
class Judged:
    verdicts: list[Verdict]
    freshness: Freshness | None = None  # None: the workspace wasn't asked, or didn't answer
    warning: str = ""


TableOf = Callable[[Component], str]


def raw_table(component: Component) -> str:
    return component.table


def table_to_ask(table_plan: str, parsed_table_plan: str) -> TableOf | None:
    """Which of a component's tables the records query reads: it spans tables, and a query of a
    Basic table is limited to that one table (azure-facts.md), so an Analytics one; None: neither."""
    if table_plan == "Analytics":
        return raw_table
    if parsed_table_plan == "Analytics":
        return lambda component: component.parsed_table
    return None


def tables_of_roles(components: tuple[Component, ...], table_of: TableOf = raw_table) -> dict[str, tuple[str, ...]]:
    """role -> the tables its machines send to (another role's tables don't make a machine stale)."""
    return {role.value: tuple(table_of(c) for c in components if role in c.roles) for role in Role}


def ask_workspace(run: RunQuery, customer_id: str, components: tuple[Component, ...],
                  verdicts: list[Verdict], now: _dt.datetime,
                  lookback: _dt.timedelta = DEFAULT_LOOKBACK, table_of: TableOf | None = raw_table) -> Judged:
    """`table_of` None: heartbeats only (every table on the Basic plan)."""
    asked = components if table_of else ()
    try:
        fresh = freshness(run, customer_id, [table_of(c) for c in asked], now, lookback)
    except UserError as exc:
        return Judged(verdicts, warning=f"the workspace was not asked, so silent machines can't be told: {exc}")
    warning = (f"the workspace answered in part ({'; '.join(fresh.errors)}): machines it left out are 'unknown'"
               if fresh.partial else "")
    return Judged(with_freshness(verdicts, fresh, tables_of_roles(asked, table_of or raw_table)), fresh, warning)
