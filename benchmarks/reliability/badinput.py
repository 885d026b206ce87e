"""Bad input, counted: the corpus of tests/test_bad_input.py (settings and components files),
each through `plan` and `run --once` against a served simulator: refused with exit 2 and only
`error:` lines, no traceback, and not one request to Azure (no ARM call, no token)."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

from tests.test_bad_input import BAD_CONFIGS, BAD_SETTINGS

from .world import cli, environ

COMMANDS = (("plan",), ("run", "--once"))


@dataclass(frozen=True)
class Refusal:
    case: str
    kind: str  # "setting" or "config"
    problems: tuple[str, ...]


def _refused(sim, argv: tuple[str, ...]) -> list[str]:
    found = []
    for command in COMMANDS:
        run = cli(*command, *argv)
        lines = run.err.splitlines()
        if run.code != 2:
            found.append(f"{' '.join(command)} exited {run.code}")
        if not lines or not all(line.startswith("error: ") for line in lines) or "Traceback" in run.err:
            found.append(f"{' '.join(command)} printed {run.err[-300:]!r}")
    if sim.calls or sim.token_requests:
        found.append(f"reached Azure: {dict(sim.calls)}, {sim.token_requests} tokens")
    sim.reset_calls()
    return found


def refusals(sim, limit: int | None = None) -> list[Refusal]:
    results = []
    for name, (environment, _words) in list(BAD_SETTINGS.items())[:limit]:
        with environ(**environment):
            results.append(Refusal(name, "setting", tuple(_refused(sim, ()))))
    with tempfile.TemporaryDirectory(prefix="bad-config-") as scratch:
        path = os.path.join(scratch, "components.yaml")
        for name, (text, *_rest) in list(BAD_CONFIGS.items())[:limit]:
            with open(path, "wb") as out:
                out.write(text if isinstance(text, bytes) else text.encode())
            results.append(Refusal(name, "config", tuple(_refused(sim, ("--config", path)))))
    return results
