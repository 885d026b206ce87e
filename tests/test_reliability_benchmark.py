"""The command behind docs/reliability.md works, in its short mode, and finds every promise kept."""

import subprocess
import sys
from pathlib import Path


def test_short_reliability_run_keeps_every_promise():
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.reliability", "--short"],
        cwd=Path(__file__).parent.parent, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    for section in ("## Faults: 4 injected", "## Crashes: 3 kills", "## Bad input: 8 cases", "## The MCP server under abuse: 12 cases"):
        assert section in done.stdout
    assert "NO:" not in done.stdout and "broken:" not in done.stderr
