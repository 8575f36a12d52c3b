"""The ``sync`` benchmark at its smallest: it runs, and its request counts meet the budgets that do
not depend on timing (no timings are asserted here; ``python -m bench`` reports them)."""

from __future__ import annotations

import json

import pytest

from bench import sync_load
from bench.report import save, table

SIZES = (300, 600)


@pytest.fixture(scope="module")
def measurements() -> dict[int, sync_load.SyncMeasurement]:
    return {n: sync_load.measure(n) for n in SIZES}


def test_every_item_arrives_once(measurements):
    for n, m in measurements.items():
        assert n - 10 < m.unblocked < n  # the generator blocks a few; BC does not synchronize those
        assert m.initial.records == m.unblocked
        assert m.initial.summary["failed"] == 0
        assert m.rerun.summary["inserted"] == m.rerun.summary["modified"] == m.rerun.summary["failed"] == 0
        assert m.full is not None and m.full.summary["unchanged"] == m.unblocked


def test_the_hooks_count_what_the_sandbox_counts(measurements):
    for m in measurements.values():
        for run in (m.units, m.initial, m.rerun, m.full):
            assert run.hook_requests["bc"] == run.sandbox["bc"]["total"]
            assert run.hook_requests["dataverse"] == run.sandbox["dataverse"]["total"]


def test_no_change_rerun_costs_the_same_at_every_size(measurements):
    reruns = {
        n: (m.rerun.sandbox["bc"]["total"], m.rerun.sandbox["dataverse"]["total"]) for n, m in measurements.items()
    }
    assert len(set(reruns.values())) == 1, reruns
    # Nothing changed: one read of the window from Business Central, nothing sent to Dataverse.
    assert reruns[SIZES[0]] == (1, 0)


def test_a_full_sync_without_changes_writes_nothing(measurements):
    for m in measurements.values():
        stats = m.full.sandbox["dataverse"]
        assert stats["batch_operations_total"] == 0
        assert "$batch" not in stats["by_entity"]


def test_initial_load_scales_within_the_request_budget(measurements):
    small, large = measurements[SIZES[0]], measurements[SIZES[1]]
    added = large.initial.records - small.initial.records
    # The fixed lookups are paid once; each extra record costs at most 1/250 of a request.
    assert large.initial.requests - small.initial.requests <= added / sync_load.RECORDS_PER_REQUEST
    for m in measurements.values():
        assert m.initial.requests * 10 < m.record_at_a_time()


def test_figures_and_results_file(measurements, tmp_path):
    figures = sync_load.figures(list(measurements.values()))
    by_name = {f.name: f for f in figures}
    constant = next(f for name, f in by_name.items() if name.startswith("no-change rerun: requests at"))
    assert constant.passed is True
    assert all(f.passed is not False for f in figures if "hooks' request_count" in f.name)
    assert "requests per record" in table(figures)
    path = save(figures, ["sync"], tmp_path / "latest.json")
    saved = json.loads(path.read_text())
    assert {e["benchmark"] for e in saved["figures"]} == {"sync"}
    assert all({"value", "unit", "budget", "verdict"} <= set(e) for e in saved["figures"])
