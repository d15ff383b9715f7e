"""The Prometheus alerting rules of roles/monitoring: promtool accepts them and their unit tests
pass, every alert carries what on-call needs (severity, summary, description, a runbook that
exists down to its anchor), every alert is exercised both firing and silent by the promtool tests,
and every keel_pg_* metric a rule reads is produced by the postgres_exporter custom queries.

promtool comes from Debian's `prometheus` package (tools/lab/host-deps.sh installs it).
"""

from __future__ import annotations

import pathlib
import re
import shutil
import subprocess

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[3]
PROM_DIR = ROOT / "roles" / "monitoring" / "files" / "prometheus"
RULES = PROM_DIR / "keel-alerts.rules.yml"
RULE_TESTS = PROM_DIR / "keel-alerts.test.yml"
QUERIES = ROOT / "roles" / "monitoring" / "files" / "postgres_exporter" / "keel-queries.yml"
MONITORING_DOC = ROOT / "docs" / "monitoring.md"
PROMTOOL = shutil.which("promtool")

needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not found (apt-get install prometheus; tools/lab/host-deps.sh does)"
)


def load(path):
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def alerts():
    return [rule for group in load(RULES)["groups"] for rule in group["rules"] if "alert" in rule]


ALERTS = alerts()
ALERT_IDS = [rule["alert"] for rule in ALERTS]


def heading_anchors(markdown):
    """GitHub's anchors for the headings of a Markdown text (outside code fences)."""
    anchors, fenced = set(), False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
            continue
        match = None if fenced else re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match:
            text = match.group(1).strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", text).replace(" ", "-"))
    return anchors


def run_promtool(*args):
    result = subprocess.run([PROMTOOL, *args], cwd=PROM_DIR, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, "promtool %s failed (%d):\n%s\n%s" % (
        " ".join(args),
        result.returncode,
        result.stdout,
        result.stderr,
    )
    return result.stdout


@needs_promtool
def test_promtool_check_rules_accepts_the_rules():
    out = run_promtool("check", "rules", RULES.name)
    assert "SUCCESS: %d rules found" % len(ALERTS) in out


@needs_promtool
def test_promtool_rule_tests_pass():
    out = run_promtool("test", "rules", RULE_TESTS.name)
    assert "SUCCESS" in out


def test_heading_anchors_follow_github():
    text = "# Runbook: a title\n## The `'*'` window\n```sh\n# not a heading\n```\n## Lag in bytes\n"
    assert heading_anchors(text) == {"runbook-a-title", "the--window", "lag-in-bytes"}


def test_alert_names_are_unique_and_prefixed():
    assert len(ALERT_IDS) == len(set(ALERT_IDS))
    assert all(name.startswith("Keel") for name in ALERT_IDS)


@pytest.mark.parametrize("rule", ALERTS, ids=ALERT_IDS)
def test_alert_carries_severity_annotations_and_for(rule):
    assert rule.get("labels", {}).get("severity") in ("warning", "critical")
    annotations = rule.get("annotations", {})
    for key in ("summary", "description", "runbook_url"):
        assert str(annotations.get(key, "")).strip(), "%s has no %s" % (rule["alert"], key)
    assert "for" in rule, "%s fires on a single evaluation: give it a for: duration" % rule["alert"]


@pytest.mark.parametrize("rule", ALERTS, ids=ALERT_IDS)
def test_runbook_url_points_at_an_existing_heading(rule):
    url = rule["annotations"]["runbook_url"]
    path, _sep, anchor = url.partition("#")
    assert path.startswith("docs/runbooks/") and path.endswith(".md"), url
    target = ROOT / path
    assert target.is_file(), "%s: %s does not exist" % (rule["alert"], path)
    assert anchor, "%s: runbook_url %s has no #anchor" % (rule["alert"], url)
    anchors = heading_anchors(target.read_text(encoding="utf-8"))
    assert anchor in anchors, "%s: no heading with anchor #%s in %s (has %s)" % (
        rule["alert"],
        anchor,
        path,
        sorted(anchors),
    )


def rule_test_cases():
    """alertname -> list of expected alert lists, over every promtool test case."""
    cases = {}
    for test in load(RULE_TESTS)["tests"]:
        for case in test.get("alert_rule_test", []):
            cases.setdefault(case["alertname"], []).append(case.get("exp_alerts") or [])
    return cases


def test_rule_tests_load_the_rules_file():
    assert load(RULE_TESTS)["rule_files"] == [RULES.name]


@pytest.mark.parametrize("name", ALERT_IDS)
def test_every_alert_is_tested_firing_and_silent(name):
    cases = rule_test_cases().get(name)
    assert cases, "%s does not appear in %s" % (name, RULE_TESTS.name)
    firing = [alerts for alerts in cases if alerts]
    assert firing, "%s has no promtool case where it fires" % name
    assert any(not alerts for alerts in cases), "%s has no promtool case where it stays silent" % name
    for expected in firing:
        for alert in expected:
            assert alert.get("exp_labels", {}).get("severity"), "%s: a firing case does not check labels" % name
            assert set(alert.get("exp_annotations", {})) == {"summary", "description", "runbook_url"}, (
                "%s: a firing case does not check every annotation" % name
            )


def test_no_test_case_names_an_unknown_alert():
    assert set(rule_test_cases()) <= set(ALERT_IDS)


def custom_query_metrics():
    names = set()
    for namespace, spec in load(QUERIES).items():
        for column in spec["metrics"]:
            ((name, meta),) = column.items()
            if meta["usage"] in ("GAUGE", "COUNTER"):
                names.add("%s_%s" % (namespace, name))
    return names


def test_keel_pg_metrics_in_rules_come_from_the_custom_queries():
    used = set(re.findall(r"\bkeel_pg_[a-z_]+\b", RULES.read_text(encoding="utf-8")))
    assert used, "the rules read no keel_pg_* metric: the pattern is wrong"
    missing = used - custom_query_metrics()
    assert not missing, "rules read %s, which keel-queries.yml does not produce" % sorted(missing)


def test_monitoring_doc_describes_every_alert():
    text = MONITORING_DOC.read_text(encoding="utf-8")
    missing = [name for name in ALERT_IDS if name not in text]
    assert not missing, "docs/monitoring.md does not mention %s" % missing
