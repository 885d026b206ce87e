"""What can be asked: the tables with their columns, the workspace's functions, and the guarded
KQL tool for anything the other tools don't answer."""

from __future__ import annotations

import datetime as _dt
from typing import Callable

from azure.core.exceptions import AzureError

from ..azure.errors import describe
from ..errors import UserError
from .answers import Catalogue, Column, Function, QueryAnswer, TableSchema, TimeRange, fit, short
from .catalog import Catalog, TableInfo
from .guard import checked_window, guarded
from .redact import redacted
from .workspace import Asking

#: lists the workspace's functions (savedSearches with a functionAlias), from Resource Manager
ListFunctions = Callable[[], list[Function]]


def schema_of(table: TableInfo) -> TableSchema:
    return TableSchema(name=table.name, description=table.description, parsed=table.parsed,
                       columns=[Column(name=n, type=t, description=d) for n, t, d in table.columns])


def catalogue(catalog: Catalog, functions: ListFunctions | None, max_bytes: int) -> Catalogue:
    answer = Catalogue(tables=[schema_of(t) for t in catalog.tables()])
    answer.source.other = ["config/components.yaml (the enabled components)"]
    if functions is None:
        answer.functions_note = "functions are listed only when the server can read Resource Manager"
    else:
        try:
            answer.functions = functions()
            answer.source.other.append("Resource Manager: the workspace's savedSearches")
        except (AzureError, UserError) as exc:
            answer.functions_note = f"functions could not be listed: {describe(exc) if isinstance(exc, AzureError) else exc}"
    fit(answer, max_bytes, "cut to max_bytes: read the resource schema://tables/{name} for one table, or raise `max_bytes`")
    return answer


def functions_of(saved_searches) -> list[Function]:
    """The savedSearches that are functions (they have a ``functionAlias``)."""
    found = []
    for search in saved_searches:
        props = search.properties
        if props.function_alias:
            found.append(Function(name=props.function_alias, parameters=props.function_parameters or "",
                                  description=props.display_name or ""))
    return found


def run_kql(asking: Asking, kql: str, since: _dt.datetime, until: _dt.datetime | None,
            max_rows: int, max_bytes: int) -> QueryAnswer:
    start, end = checked_window(since, until, asking.workspace.now())
    found = asking.ask(guarded(kql, max_rows), start, end, tables=())
    # Redacted as job_story's environment is: a query can read the archive's .env rows too.
    rows = [[short(redacted(v)) if isinstance(v, str) else v for v in row] for row in found.rows[:max_rows]]
    answer = QueryAnswer(columns=list(found.columns), rows=rows, time_range=TimeRange(start=start, end=end),
                         truncated=len(found.rows) > max_rows or found.partial)
    answer.source = asking.source()
    answer.source.other = ["the query as given, with `| take` appended"]
    if found.partial:
        answer.more = f"the workspace answered in part: {found.error}"
    fit(answer, max_bytes, f"rows were cut (max_rows {max_rows}, max_bytes {max_bytes}): summarize, project fewer "
                           "columns, or narrow the window")
    return answer
