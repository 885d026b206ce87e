"""Logging: text or JSON lines, one line per Azure request, and an audit of each pass's changes.

Verbosity: none shows the controller's own lines; `-v` adds one line per ARM request and
azure-identity's warnings; `-vv` adds the bodies and azure-core's header dump.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import datetime, timezone
from urllib.parse import urlsplit

from azure.core.exceptions import ResponseNotReadError
from azure.core.pipeline.policies import HTTPPolicy

from .apply import FAILED, ChangeResult
from .plan import CREATE, DELETE, Change, Skip
from .resources import Association

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
REQUESTS = logging.getLogger("slurm-log-controller.requests")
# azure-core's dump of every request's URL and headers: 265 lines per plan.
AZURE_HTTP_DUMP = "azure.core.pipeline.policies.http_logging_policy"
# A cold start at 2,000 nodes is 10,000 association creates: name this many per outcome, kind and
# action, count the rest.
SAMPLE = 10
DETAIL_CHARS = 500


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the record's `fields`."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class _ControllerHandler(logging.StreamHandler):
    """Ours, so a second `main()` in one process replaces it rather than doubling every line."""


def configure_logging(verbosity: int, log_format: str) -> None:
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _ControllerHandler)]:
        root.removeHandler(handler)
    handler = _ControllerHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    levels = {
        "azure": logging.WARNING,
        # Its warnings tell each credential of the chain that failed: 14 lines before our one.
        "azure.identity": logging.WARNING if verbosity >= 1 else logging.ERROR,
        AZURE_HTTP_DUMP: logging.INFO if verbosity >= 2 else logging.WARNING,
        REQUESTS.name: {0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG),
    }
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def _body(body) -> str:
    if body is None:
        return ""
    return body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)


def _answer(response) -> str:
    """The response's body, if the SDK has read it: a long-running operation's first answer is
    streamed, and reading it here would leave the SDK nothing (it failed every table creation)."""
    if response is None:
        return ""
    try:
        return response.http_response.text()
    except ResponseNotReadError:
        return "(streamed to the SDK, not logged)"


class RequestLogPolicy(HTTPPolicy):
    """One line per request: method, path, status, duration and retries (at -vv with both bodies,
    in the same record so that concurrent requests don't mix). Added per call, it wraps azure-core's
    retry policy, which counts the retries in the context (`retry_count`)."""

    def send(self, request):
        if not REQUESTS.isEnabledFor(logging.INFO):
            return self.next.send(request)
        started = time.monotonic()
        try:
            response = self.next.send(request)
        except Exception as exc:
            self._log(request, None, type(exc).__name__, started)
            raise
        self._log(request, response, response.http_response.status_code, started)
        return response

    @staticmethod
    def _log(request, response, status, started: float) -> None:
        http = request.http_request
        path = urlsplit(http.url).path
        duration_ms = round((time.monotonic() - started) * 1000)
        retries = request.context.get("retry_count", 0)
        fields = {"method": http.method, "path": path, "status": status, "duration_ms": duration_ms, "retries": retries}
        line = f"{http.method} {path} {status} {duration_ms} ms retries={retries}"
        if REQUESTS.isEnabledFor(logging.DEBUG):
            answer = _answer(response)
            line += f"\n  request body: {_body(http.body) or '(none)'}\n  response body: {answer or '(none)'}"
        REQUESTS.info("%s", line, extra={"fields": fields})


def _reason(change: Change) -> str:
    """Why the plan made the change."""
    if change.action == CREATE:
        return "missing"
    if change.action == DELETE:
        return "orphaned"
    return "drifted: " + ", ".join(f.path for f in change.fields)


def _fields(result: ChangeResult) -> dict:
    change = result.change
    fields = {"kind": change.kind, "action": change.action, "name": change.resource.name,
              "outcome": result.outcome, "reason": _reason(change)}
    if isinstance(change.resource, Association):
        fields["target"] = change.resource.target_id
    if result.detail:
        fields["detail"] = result.detail[:DETAIL_CHARS]
    return fields


def log_changes(logger: logging.Logger, results: tuple[ChangeResult, ...], sample: int = SAMPLE) -> None:
    """Each change of a pass, its outcome and why (failed and skipped ones with Azure's reason);
    per outcome, kind and action the first `sample` are named and the rest counted."""
    groups: dict[tuple[str, str, str], list[ChangeResult]] = {}
    for result in results:
        groups.setdefault((result.outcome, result.change.kind, result.change.action), []).append(result)
    for (outcome, kind, action), members in groups.items():
        level = logging.WARNING if outcome == FAILED else logging.INFO
        for result in members[:sample]:
            fields = _fields(result)
            on = f" on {fields['target'].rsplit('/', 1)[-1]}" if "target" in fields else ""
            detail = f": {fields['detail']}" if "detail" in fields else ""
            logger.log(level, "%s: %s%s (%s)%s", outcome, result.change.describe(), on, fields["reason"], detail,
                       extra={"fields": fields})
        if len(members) > sample:
            more = len(members) - sample
            logger.log(level, "%s: ... and %d more %s %ss", outcome, more, kind, action,
                       extra={"fields": {"kind": kind, "action": action, "outcome": outcome, "more": more}})


def log_blocked(logger: logging.Logger, skipped: tuple[Skip, ...]) -> None:
    """Each resource with our name that isn't ours, every pass: the configuration isn't in effect
    until someone adopts or renames it (one per table or DCR, so never many)."""
    for skip in skipped:
        fields = {"kind": skip.kind, "name": skip.name, "owner": skip.owner, "withheld": skip.withheld, "outcome": "blocked"}
        logger.warning("blocked: %s %s: %s", skip.kind, skip.name, skip.reason, extra={"fields": fields})
