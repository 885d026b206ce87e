"""The MCP server under abuse (benchmarks/reliability/abuse.py), every case through the in-memory
client and the Streamable HTTP transport: refused with an error naming what's wrong, or answered
within its byte cap with `truncated` set where the caps cut; no token, identity header or
redacted value in any answer; invalid tokens refused before anything is read; 20 sessions at
once answered; the server still serving afterwards."""

from __future__ import annotations

import pytest

from benchmarks.reliability.abuse import CASES, SESSIONS, abuse_runs
from benchmarks.reliability.world import serving


@pytest.fixture(scope="module")
def outcomes():
    pytest.importorskip("duckdb_kql")
    with serving() as sim:
        return abuse_runs(sim)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_abuse_case(outcomes, case):
    mine = [o for o in outcomes if o.case == case.name]
    assert {o.transport for o in mine} == {"in-memory", "HTTP"}
    assert [o.problems for o in mine] == [[], []]


@pytest.mark.parametrize("name", ["no token", "wrong audience", "expired", "not a JWT"])
def test_a_token_that_must_be_refused(outcomes, name):
    (outcome,) = [o for o in outcomes if o.case == f"HTTP with {name}"]
    assert outcome.problems == []


def test_many_sessions_at_once_and_the_server_still_up(outcomes):
    concurrent = [o for o in outcomes if o.case == f"{SESSIONS} sessions at once"]
    assert len(concurrent) == 1 and concurrent[0].problems == []
    assert not [o for o in outcomes if o.case.startswith("the ") and o.problems]  # still serving afterwards
