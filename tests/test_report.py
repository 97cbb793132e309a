"""The report a coach hands over (issue 32): labelled measures with units, numbers
rounded to what the typical error justifies, charts with their axis values and
dates, the sessions the numbers come from, and the same text in the PDF (read back
by pypdf, a reader that is not the writer) as on the page."""

from __future__ import annotations

import io
import math
import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import numpy as np
import pytest
from pypdf import PdfReader

from service import report
from service.analysis.trends import RepRow, athlete_trend

MASS_KG = 72.0
START = datetime(2026, 11, 2, 17, 0, tzinfo=UTC)


def _rep(rng, week: int, n: int) -> dict:
    f0 = MASS_KG * (8.0 + 0.06 * week + rng.normal(0, 0.02))
    return {
        "rep": n, "steps": 24, "judged_steps": 20, "aligned_steps": int(rng.integers(12, 20)),
        "f0_n": f0, "pmax_w": 1490.0 + rng.normal(0, 20), "mss_m_s": 9.1 + rng.normal(0, 0.03),
        "tau_s": 1.21 + rng.normal(0, 0.01), "min_contact_time_s": 0.0962 + rng.normal(0, 0.002),
    }  # fmt: skip


@pytest.fixture(scope="module")
def made():
    """Six weekly sessions of three reps for the athlete, and a squad of three."""
    rng = np.random.default_rng(3)
    rows = []
    for athlete in (1, 2, 3):
        for week in range(6):
            sid = 10 * athlete + week
            at = START + timedelta(days=7 * week)
            for n in (1, 2, 3):
                rep = _rep(rng, week, n)
                if athlete != 1:  # the squad differs from athlete to athlete
                    rep = {**rep, "f0_n": rep["f0_n"] * (1 + 0.05 * athlete)}
                rows.append(RepRow(athlete, sid, at, MASS_KG, rep))
    trends = {k: athlete_trend(rows, 1, k) for k, *_ in report.MEASURES}
    card = {
        "rep": 2, "steps": 24, "splits_from": "speed sensor",
        "splits": [{"from_m": 0, "to_m": 10, "time_s": 1.853},
                   {"from_m": 10, "to_m": 20, "time_s": 1.1}],
        "profile": {"mss_m_s": 9.1234, "tau_s": 1.2149, "f0_n": 600.4, "f0_n_kg": 8.339,
                    "v0_m_s": 10.21, "pmax_w": 1490.4, "pmax_w_kg": 20.7, "rf_max": 0.4711,
                    "drf": -0.08123},
        "verdict": {"aligned": 15, "push": 2, "swing": 1, "torso": 1, "none": 5},
    }  # fmt: skip
    athlete = {"name": "Łukasz", "body_mass_kg": MASS_KG, "height_m": 1.8}
    when = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    return {
        "trends": trends,
        "doc": report.document(athlete, trends, [card], when),
        "pdf": _pdf_text(report.report_pdf(athlete, trends, [card], when)),
        "html": _html_text(report.report_html(athlete, trends, [card], when)),
    }


def _pdf_text(pdf: bytes) -> str:
    return " ".join(" ".join(p.extract_text().split()) for p in PdfReader(io.BytesIO(pdf)).pages)


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def _html_text(page: str) -> str:
    p = _Text()
    p.feed(page)
    return " ".join(" ".join(p.parts).split())


def test_numbers_are_rounded_to_the_typical_error(made):
    """Each measure's latest value, change, interval, TE and SWC have as many decimals
    as the TE's first significant digit allows (a reference computed here)."""
    for (key, label, unit, scale, _), row in zip(report.MEASURES, made["doc"]["rows"], strict=True):
        t = made["trends"][key]
        te = t["typical_error"] * scale
        d = min(max(-math.floor(math.log10(te)), 0), 4)
        assert row[0] == f"{label} ({unit})"
        assert row[1] == f"{t['sessions'][-1]['typical'] * scale:.{d}f}"
        assert row[3] == f"{te:.{d}f}" or row[3] == f"< {10.0**-d:.{d}f}"
        decimals = {len(x.split(".")[1]) if "." in x else 0
                    for x in re.findall(r"[-+]?\d+(?:\.\d+)?", " ".join(row[1:4]))}  # fmt: skip
        assert decimals == {d}, (key, row)
    f0 = made["doc"]["rows"][0]
    assert f0[5] == "better", f0  # 0.06 N/kg a week for five weeks: far beyond the noise


def test_the_report_is_labelled_with_units_and_no_raw_names(made):
    for text in (made["pdf"], made["html"]):
        for raw in ("pmax_w", "f0_n_kg", "mss_m_s", "rf_max", "e+0", "e-0", "None", "nan"):
            assert raw not in text, raw
        assert "Pmax 1490 W · Pmax 20.7 W/kg" in text
        assert "MSS 9.12 m/s · τ 1.21 s" in text
        assert "RFmax 47.1 % · DRF -8.12 % per m/s" in text
        assert "Splits (speed sensor): 0–10 m 1.85 s" in text
        assert "Best contact (ms)" in text and "Aligned steps (%)" in text


def test_the_charts_have_axis_values_and_dates(made):
    first, last = f"{START:%Y-%m-%d}", f"{START + timedelta(days=35):%Y-%m-%d}"
    for chart in made["doc"]["charts"]:
        assert chart["x_labels"] == (first, last)
        assert chart["y_labels"][0].startswith("0")
        top = max(v for _, v in chart["points"]) * 1.15
        assert abs(float(chart["y_labels"][1]) - top) <= 0.5 * 10.0 ** -_decimals(chart)
        for text in (made["pdf"], made["html"]):
            assert chart["title"] in text
            assert chart["y_labels"][1] in text
    for text in (made["pdf"], made["html"]):
        assert text.count(first) >= 6 and text.count(last) >= 6


def _decimals(chart: dict) -> int:
    top = chart["y_labels"][1]
    return len(top.split(".")[1]) if "." in top else 0


def test_the_page_and_the_pdf_say_the_same(made):
    doc = made["doc"]
    said = [doc["title"], doc["about"], doc["used"], *(c for r in doc["rows"] for c in r)]
    said += [line for card in doc["cards"] for line in (card["title"], *card["lines"])]
    for s in (" ".join(s.split()) for s in said):
        assert s in made["html"], s
        assert s in made["pdf"], s
    assert doc["used"].startswith("From 6 finished sessions, 2026-11-02 to 2026-12-07")
    assert "of 3 athletes' finished sessions" in doc["used"]


def test_an_imu_only_athlete_and_one_with_no_session(made):
    """An IMU-only rig has no sprint profile (no F0): its sessions still date the report;
    an athlete with no finished session gets a report that says so, with no number."""
    imu_only = {
        key: {**t, "sessions": [] if key != "aligned_share" else t["sessions"],
              "typical_error": None, "swc": None, "change": None}
        for key, t in made["trends"].items()
    }  # fmt: skip
    when = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    athlete = {"name": "Ida", "body_mass_kg": 60.0, "height_m": 1.7}
    doc = report.document(athlete, imu_only, [], when)
    assert doc["used"].startswith("From 6 finished sessions, 2026-11-02 to 2026-12-07")
    assert "Sessions 2026-11-02 to 2026-12-07" in doc["about"]
    assert [r[1] for r in doc["rows"]][:-1] == ["–"] * 5 and doc["rows"][-1][1] != "–"
    empty = {k: {**t, "sessions": []} for k, t in imu_only.items()}
    doc = report.document(athlete, empty, [], when)
    assert doc["used"] == "No finished session with a measured rep in the period."
    for text in (_pdf_text(report.report_pdf(athlete, empty, [], when)),
                 _html_text(report.report_html(athlete, empty, [], when))):  # fmt: skip
        assert "no sessions" in text and "nan" not in text
