"""The Prometheus alert rules (config/alerts.yaml) and their promtool unit tests.

`promtool check rules` and `promtool test rules tests/prometheus/alerts_test.yaml` must pass.
promtool comes with Debian's `prometheus` package: without it these tests are skipped locally but
fail when CI=true, so CI can't pass without running them. The rest needs no promtool: every alert
is complete, has a promtool case where it fires and one where it must not, and is in the docs.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess

import pytest
import yaml

from tests.support import unavailable

ROOT = pathlib.Path(__file__).resolve().parents[2]
RULES = ROOT / "config" / "alerts.yaml"
PROMTOOL_TESTS = pathlib.Path(__file__).resolve().parent / "alerts_test.yaml"
DOCS = ROOT / "docs" / "alerts.md"

ANNOTATIONS = ("summary", "description", "runbook")
SEVERITIES = ("warning", "critical")


def _promtool() -> str:
    """promtool's path (PROMTOOL overrides the PATH lookup); skip without it, fail under CI=true."""
    path = os.environ.get("PROMTOOL") or shutil.which("promtool")
    if path:
        return path
    unavailable("promtool not installed (apt-get install prometheus)")


def _run(*args: str) -> None:
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (
        f"{' '.join(args)} exited {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
    )


def _alerts() -> list[dict]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def _promtool_cases() -> list[dict]:
    return [case for test in yaml.safe_load(PROMTOOL_TESTS.read_text())["tests"]
            for case in test.get("alert_rule_test", [])]


def test_missing_promtool_makes_the_tests_unavailable(monkeypatch):
    monkeypatch.delenv("PROMTOOL", raising=False)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        _promtool()


def test_promtool_check_rules():
    _run(_promtool(), "check", "rules", str(RULES))


def test_promtool_test_rules():
    _run(_promtool(), "test", "rules", str(PROMTOOL_TESTS))


def test_promtool_tests_load_the_shipped_rule_file():
    rule_files = yaml.safe_load(PROMTOOL_TESTS.read_text())["rule_files"]
    assert [(PROMTOOL_TESTS.parent / f).resolve() for f in rule_files] == [RULES]


def test_every_alert_is_complete():
    alerts = _alerts()
    assert alerts, "no alerts in config/alerts.yaml"
    names = [a["alert"] for a in alerts]
    assert len(names) == len(set(names)), f"duplicate alert names: {names}"
    for alert in alerts:
        name = alert["alert"]
        assert alert.get("for"), f"{name}: no `for:`"
        assert alert.get("labels", {}).get("severity") in SEVERITIES, f"{name}: severity not one of {SEVERITIES}"
        for key in ANNOTATIONS:
            assert str(alert.get("annotations", {}).get(key, "")).strip(), f"{name}: no {key} annotation"


def test_every_alert_has_a_promtool_case_where_it_fires_and_one_where_it_must_not():
    cases = _promtool_cases()
    for alert in _alerts():
        name = alert["alert"]
        mine = [c for c in cases if c["alertname"] == name]
        firing = [c for c in mine if c.get("exp_alerts")]
        silent = [c for c in mine if not c.get("exp_alerts")]
        assert firing, f"{name}: no case in {PROMTOOL_TESTS.name} where it fires"
        assert silent, f"{name}: no case in {PROMTOOL_TESTS.name} where it must not fire"
        for case in firing:
            for expected in case["exp_alerts"]:
                where = f"{name} at {case['eval_time']}"
                assert expected.get("exp_labels", {}).get("severity") == alert["labels"]["severity"], where
                assert set(expected.get("exp_annotations", {})) >= set(ANNOTATIONS), where


def test_promtool_cases_name_only_existing_alerts():
    names = {a["alert"] for a in _alerts()}
    unknown = {c["alertname"] for c in _promtool_cases()} - names
    assert not unknown, f"cases for alerts that don't exist: {unknown}"


def test_every_alert_is_documented():
    docs = DOCS.read_text()
    missing = [a["alert"] for a in _alerts() if f"`{a['alert']}`" not in docs]
    assert not missing, f"not in {DOCS.relative_to(ROOT)}: {missing}"
