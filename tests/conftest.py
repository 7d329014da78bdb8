"""Shared test helpers and the CI policy on skipped tests.

In CI (``CI=true``) a skipped test is a failure: QGIS and browser tests must really run there.
Elsewhere they are skipped with the reason printed by ``-ra``.
"""

from __future__ import annotations

import os

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    skipped = terminalreporter.stats.get("skipped", [])
    if IN_CI and skipped:
        terminalreporter.write_line(
            f"CI=true: {len(skipped)} test(s) skipped; every test must run in CI "
            "(install QGIS / Chromium: scripts/install_system.sh)", red=True, bold=True)


def pytest_sessionfinish(session, exitstatus):
    if not IN_CI:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and reporter.stats.get("skipped") and exitstatus == 0:
        session.exitstatus = 1


@pytest.fixture
def tmp_out(tmp_path):
    """A fresh output folder."""
    out = tmp_path / "out"
    out.mkdir()
    return out
