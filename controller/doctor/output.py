"""The doctor's verdicts for people (one table) and for scripts (JSON, `format_version` 1)."""

from __future__ import annotations

import json
from collections import Counter

from .preflight import CAUSES, UNIFORM_INSTANCE, Verdict, identity_problem

FORMAT_VERSION = 1
COLUMNS = ("machine", "role", "agent", "identity", "model", "associations", "heartbeat", "stalest table", "verdict", "fix")


def ago(now, at) -> str:
    seconds = (now - at).total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return f"{max(0, int(seconds))} s ago"


def _seen(v: Verdict, now) -> tuple[str, str]:
    """The heartbeat and stalest-table columns: '-' when the workspace wasn't asked."""
    seen = v.seen
    if seen is None:
        return "-", "-"
    if seen.unknown:
        return "unknown (partial answer)", "-"
    heartbeat = ago(now, seen.heartbeat) if seen.heartbeat else "none in 1 d"
    if not seen.stalest:
        return heartbeat, "-"
    table, at = seen.stalest
    return heartbeat, f"{table} {ago(now, at) if at else 'never'}"


def columns_of(v: Verdict, now=None) -> dict[str, str]:
    m = v.machine
    heartbeat, stalest = _seen(v, now)
    agent = "missing" if m.agent is None else ("ok" if m.agent.provisioning_state.lower() == "succeeded" else m.agent.provisioning_state)
    if m.agent is not None and m.kind == UNIFORM_INSTANCE and not m.model_applied:
        agent = "model only"  # in the scale set's model, which the instance hasn't applied
    problem = identity_problem(m.identity, m.agent)
    kind = "user-assigned" if m.agent and m.agent.identifier else "system-assigned"
    identity = {None: kind, "no_identity": "none"}.get(problem, "user-assigned, not named")
    model = ("latest" if m.model_applied else "outdated") if m.kind == UNIFORM_INSTANCE else "-"
    return {
        "machine": m.name, "role": m.role, "agent": agent, "identity": identity, "model": model,
        "associations": "ok" if m.associated else "missing", "heartbeat": heartbeat, "stalest table": stalest,
        "verdict": "ok" if v.ok else v.cause, "fix": v.fix,
    }


def render_table(verdicts: list[Verdict], now=None) -> str:
    rows = [columns_of(v, now) for v in verdicts]
    widths = {c: max([len(c), *(len(r[c]) for r in rows)]) for c in COLUMNS[:-1]}
    lines = ["  ".join(c.upper().ljust(widths.get(c, 0)) for c in COLUMNS).rstrip()]
    lines += ["  ".join(r[c].ljust(widths.get(c, 0)) for c in COLUMNS).rstrip() for r in rows]
    broken = sum(not v.ok for v in verdicts)
    lines.append(f"\n{len(verdicts) - broken}/{len(verdicts)} machines can send; {broken} can't")
    return "\n".join(lines)


def render_json(verdicts: list[Verdict], now=None) -> str:
    by_cause = Counter({c: 0 for c in CAUSES})
    for v in verdicts:
        by_cause.update(v.causes[:1])
    machines = [
        {**columns_of(v, now), "id": v.machine.id, "kind": v.machine.kind, "ok": v.ok, "causes": list(v.causes)}
        for v in verdicts
    ]
    summary = {"machines": len(verdicts), "unable_to_send": sum(not v.ok for v in verdicts), "by_cause": dict(by_cause)}
    return json.dumps({"format_version": FORMAT_VERSION, "machines": machines, "summary": summary}, indent=2)
