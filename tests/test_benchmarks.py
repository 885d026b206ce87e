"""The benchmark itself works (small sizes); its numbers are read by people, not asserted here."""

import subprocess
import sys
from pathlib import Path


def test_quick_benchmark_prints_its_tables():
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--quick"],
        cwd=Path(__file__).parent.parent, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for table in ("a) ARM calls per in-sync pass", "b) time to cover", "c) cold start", "d) daemon in sync"):
        assert table in done.stdout
    assert "failed 0" in done.stdout
    assert "| per-component |" in done.stdout and "| per-role |" in done.stdout  # d) for both layouts


def test_quick_mcp_benchmark_prints_its_table():
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.mcp", "--quick"],
        cwd=Path(__file__).parent.parent, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| tool | calls | Logs queries |" in done.stdout and "| job_story |" in done.stdout
    assert "failed 0" in done.stdout


def test_quick_doctor_benchmark_prints_its_table():
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.doctor", "--quick"],
        cwd=Path(__file__).parent.parent, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line.split("|") for line in done.stdout.splitlines() if line.startswith("| Uniform") or line.startswith("| Flexible")]
    assert len(rows) == 4
    assert all(row[4].strip() == "0" and row[5].strip() == "2" for row in rows), done.stdout  # no GET per machine; 2 queries


def test_quick_layout_benchmark_prints_both_layouts_side_by_side():
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.layout", "--quick"],
        cwd=Path(__file__).parent.parent, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line.split("|") for line in done.stdout.splitlines() if line.startswith(("| Flexible", "| Uniform"))]
    assert [(r[1].strip(), r[2].strip(), r[3].strip()) for r in rows] == [
        ("Flexible", "per-component", "5"), ("Flexible", "per-role", "1"),
        ("Uniform", "per-component", "5"), ("Uniform", "per-role", "1"),
    ]
    assert all("failed 0" in r[-2] for r in rows), done.stdout
