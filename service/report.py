"""A report a coach can hand over: one page per athlete with the trends by date and
the last session's rep cards, as PDF (fpdf2: pure Python, made on the Pi with no
internet) or HTML. Pure: the numbers in, the document out (docs/progress.md).

Both formats render one `document`: the same labelled strings, so a PDF and a page
made from the same request say the same. Numbers are rounded to what the measure's
typical error justifies (`decimals_for`): a digit below the noise is not news."""

from __future__ import annotations

import contextlib
import html
import itertools
import math
from datetime import datetime
from pathlib import Path

from fpdf import FPDF

# The trends on the page: key, label, unit, scale from the API's unit, decimals when
# the typical error is unknown.
MEASURES = (
    ("f0_n_kg", "F0", "N/kg", 1.0, 2),
    ("mss_m_s", "Top speed (MSS)", "m/s", 1.0, 2),
    ("pmax_w_kg", "Pmax", "W/kg", 1.0, 1),
    ("tau_s", "τ", "s", 1.0, 2),
    ("min_contact_time_s", "Best contact", "ms", 1000.0, 0),
    ("aligned_share", "Aligned steps", "%", 100.0, 0),
)
# A rep card's sprint profile (Samozino et al. 2016; RF in %, DRF in % per m/s).
PROFILE = (
    ("mss_m_s", "MSS", "m/s", 1.0, 2),
    ("tau_s", "τ", "s", 1.0, 2),
    ("f0_n", "F0", "N", 1.0, 0),
    ("f0_n_kg", "F0", "N/kg", 1.0, 2),
    ("v0_m_s", "V0", "m/s", 1.0, 2),
    ("pmax_w", "Pmax", "W", 1.0, 0),
    ("pmax_w_kg", "Pmax", "W/kg", 1.0, 1),
    ("rf_max", "RFmax", "%", 100.0, 1),
    ("drf", "DRF", "% per m/s", 100.0, 2),
)
HEADER = ["Measure", "Latest (typical)", "Change (90 % CI)", "Typical error", "SWC", "Verdict"]
DASH = "–"
METHOD = (
    "Change: the latest two sessions' reps against the earliest two. A change is called"
    " better or worse only when its whole 90 % interval lies beyond the smallest worthwhile"
    " change (SWC), so that it exceeds the measure's typical error too (Hopkins 2000)."
    " Numbers are rounded to the typical error's first digit."
)


def decimals_for(typical_error: float | None, default: int) -> int:
    """The decimals a value deserves: down to the typical error's first significant
    digit (TE 0.0216 -> 2: 0.83 ± 0.02), 0 to 4; `default` when the TE is unknown."""
    if typical_error is None or not math.isfinite(typical_error) or typical_error <= 0:
        return default
    return min(max(-math.floor(math.log10(typical_error)), 0), 4)


def fixed(value: float | None, decimals: int, sign: bool = False) -> str:
    if value is None or not math.isfinite(value):
        return DASH
    text = f"{value:{'+' if sign else ''}.{decimals}f}"
    zero = f"{0.0:.{decimals}f}"
    return zero if text.lstrip("+-") == zero else text  # no "-0.00"


def _small(value: float | None, decimals: int) -> str:
    """A positive value that rounds to zero is said to be below the last digit."""
    if value is not None and 0 < value < 0.5 * 10.0**-decimals:
        return f"< {10.0**-decimals:.{decimals}f}"
    return fixed(value, decimals)


def _verdict(change: dict | None) -> str:
    if change is None:
        return "too few sessions"
    if not change["flagged"]:
        return "no clear change"
    return "better" if change["better"] else "worse"


def summary_rows(trends: dict[str, dict]) -> list[list[str]]:
    """Per measure: latest typical rep, change and its interval, typical error, SWC,
    verdict; each in the measure's unit and rounded to its typical error."""
    rows = []
    for key, label, unit, scale, default in MEASURES:
        t = trends[key]
        te = t["typical_error"] * scale if t["typical_error"] is not None else None
        d = decimals_for(te, default)
        latest = t["sessions"][-1]["typical"] * scale if t["sessions"] else None
        c = t["change"]
        change = DASH
        if c is not None:
            change = (
                f"{fixed(c['change'] * scale, d, True)} ({fixed(c['lower'] * scale, d, True)}"
                f" to {fixed(c['upper'] * scale, d, True)})"
            )
        swc = t["swc"] * scale if t["swc"] is not None else None
        rows.append(
            [f"{label} ({unit})", fixed(latest, d), change, _small(te, d), _small(swc, d),
             _verdict(c)]
        )  # fmt: skip
    return rows


def _sessions(trends: dict[str, dict]) -> list[dict]:
    """The sessions with any measure on the page, by date (an IMU-only rig has no F0,
    its sessions still count)."""
    by_id = {s["session_id"]: s for t in trends.values() for s in t["sessions"]}
    return sorted(by_id.values(), key=lambda s: s["started_at"])


def used_line(trends: dict[str, dict]) -> str:
    """Which sessions the numbers come from (finished sessions only: one still recording
    would move them while it records)."""
    sessions = _sessions(trends)
    if not sessions:
        return "No finished session with a measured rep in the period."
    first, last = sessions[0]["started_at"], sessions[-1]["started_at"]
    athletes = max((t.get("swc_athletes") or 0) for t in trends.values())
    swc = (
        f"the SWC is 0.2 × the between-athlete SD of {athletes} athletes' finished sessions"
        " in the period"
        if athletes >= 2
        else "no SWC: fewer than two athletes have finished sessions in the period"
    )
    return (
        f"From {len(sessions)} finished sessions, {first:%Y-%m-%d} to {last:%Y-%m-%d} (each"
        f" session's typical rep is its median); {swc}."
    )


def _chart(trend: dict, label: str, unit: str, scale: float, default: int) -> dict:
    """A measure's typical rep by date, its axis from zero (honest), with its labels."""
    te = trend["typical_error"] * scale if trend["typical_error"] is not None else None
    d = decimals_for(te, default)
    pts = [(s["started_at"], s["typical"] * scale) for s in trend["sessions"]]
    top = max([v for _, v in pts] + [0.0]) * 1.15 or 1.0
    return {
        "title": f"{label} ({unit}), typical rep by date",
        "points": [(t.timestamp(), v) for t, v in pts],
        "top": top,
        "y_labels": (fixed(0.0, d), fixed(top, d)),
        "x_labels": (f"{pts[0][0]:%Y-%m-%d}", f"{pts[-1][0]:%Y-%m-%d}") if pts else ("", ""),
    }


def _card_lines(card: dict) -> list[str]:
    p = card["profile"]
    profile = " · ".join(
        f"{label} {fixed(p[key] * scale, d)} {unit}"
        for key, label, unit, scale, d in PROFILE
        if p.get(key) is not None
    )
    splits = " · ".join(
        f"{s['from_m']:g}–{s['to_m']:g} m {s['time_s']:.2f} s" for s in card["splits"]
    )
    v = card["verdict"]
    return [
        f"Sprint profile: {profile or DASH}",
        f"Splits ({card['splits_from'] or 'none'}): {splits or DASH}",
        f"Steps: {v['aligned']} aligned, {v['push']} push, {v['swing']} swing,"
        f" {v['torso']} torso, {v['none']} not judged.",
    ]


def document(athlete: dict, trends: dict[str, dict], cards: list[dict], made: datetime) -> dict:
    """What the report says, as strings and chart points: both formats render this."""
    sessions = _sessions(trends)
    period = (
        f"{sessions[0]['started_at']:%Y-%m-%d} to {sessions[-1]['started_at']:%Y-%m-%d}"
        if sessions
        else "no sessions"
    )
    last = f"{sessions[-1]['started_at']:%Y-%m-%d}" if sessions else ""
    return {
        "title": f"Stridesync report: {athlete['name']}",
        "about": f"{athlete['body_mass_kg']:g} kg, {athlete['height_m']:g} m. Sessions"
        f" {period}. Made {made:%Y-%m-%d %H:%M} UTC.",
        "used": used_line(trends),
        "method": METHOD,
        "rows": summary_rows(trends),
        "charts": [_chart(trends[k], label, u, s, d) for k, label, u, s, d in MEASURES],
        "cards": [_card(c, last) for c in cards],
    }


def _card(card: dict, day: str) -> dict:
    title = f"Last session ({day}), rep {card['rep']}: {card['steps']} steps"
    return {"title": title, "lines": _card_lines(card)}


FONTS = Path(__file__).with_name("fonts")
FONT = "DejaVu"
# Scripts DejaVu Sans lacks (CJK, emoji): a system font that has them, where the Pi
# has one (Debian: fonts-noto-cjk, fonts-noto-color-emoji); else such a glyph is left
# blank, never an error (the HTML report shows every name the browser can).
FALLBACK_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
)


def _new_pdf() -> FPDF:
    """A4 in DejaVu Sans (shipped with the package, its licence beside it: Latin,
    Greek, Cyrillic and more; the built-in Helvetica covers Latin-1 only, and a name
    like Łukasz made the report fail)."""
    pdf = FPDF(format="A4")
    pdf.add_font(FONT, "", str(FONTS / "DejaVuSans.ttf"))
    pdf.add_font(FONT, "B", str(FONTS / "DejaVuSans-Bold.ttf"))
    fallbacks = []
    for i, path in enumerate(p for p in FALLBACK_FONTS if Path(p).exists()):
        with contextlib.suppress(Exception):  # a font fpdf2 cannot read is no fallback
            pdf.add_font(f"fallback{i}", "", path)
            fallbacks.append(f"fallback{i}")
    if fallbacks:
        pdf.set_fallback_fonts(fallbacks)
    return pdf


def report_pdf(athlete: dict, trends: dict[str, dict], cards: list[dict], made: datetime) -> bytes:
    doc = document(athlete, trends, cards, made)
    pdf = _new_pdf()
    pdf.set_auto_page_break(True, margin=12)
    pdf.add_page()
    pdf.set_font(FONT, "B", 16)
    pdf.cell(0, 9, doc["title"], new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "", 9)
    for key in ("about", "used", "method"):
        pdf.multi_cell(0, 4, doc[key], new_x="LMARGIN", new_y="NEXT")
    _table(pdf, HEADER, doc["rows"], (40, 26, 50, 24, 24, 26))
    _charts(pdf, doc["charts"])
    for card in doc["cards"]:
        pdf.set_font(FONT, "B", 10)
        pdf.cell(0, 6, card["title"], new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(FONT, "", 8)
        for line in card["lines"]:
            pdf.multi_cell(0, 4, line, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)
    return bytes(pdf.output())


def _table(pdf: FPDF, header: list[str], rows: list[list[str]], widths) -> None:
    pdf.ln(2)
    pdf.set_font(FONT, "B", 8)
    for text, w in zip(header, widths, strict=True):
        pdf.cell(w, 6, text, border="B")
    pdf.ln()
    pdf.set_font(FONT, "", 8)
    for row in rows:
        for text, w in zip(row, widths, strict=True):
            pdf.cell(w, 5, text)
        pdf.ln()


def _charts(pdf: FPDF, charts: list[dict]) -> None:
    """Three charts a row: the typical rep by date from zero, the axis labelled with
    its values (0 and the top) and its first and last dates."""
    pdf.ln(2)
    w, h, gap, left = 50, 26, 12, 10
    for i, chart in enumerate(charts):
        x0 = pdf.l_margin + left + (i % 3) * (w + gap)
        if i % 3 == 0 and i:
            pdf.ln(h + 14)
        y0 = pdf.get_y()
        pdf.set_font(FONT, "B", 7)
        pdf.text(x0 - left, y0 + 3, chart["title"])
        box_y = y0 + 5
        pdf.set_draw_color(120)
        pdf.rect(x0, box_y, w, h)
        pdf.set_font(FONT, "", 6)
        bottom, top = chart["y_labels"]
        pdf.text(x0 - pdf.get_string_width(top) - 1, box_y + 2, top)
        pdf.text(x0 - pdf.get_string_width(bottom) - 1, box_y + h, bottom)
        first, last = chart["x_labels"]
        pdf.text(x0, box_y + h + 3, first)
        pdf.text(x0 + w - pdf.get_string_width(last), box_y + h + 3, last)
        pts = chart["points"]
        if pts:
            t0, t1 = pts[0][0], max(pts[-1][0], pts[0][0] + 1)
            xy = [
                (x0 + 2 + (t - t0) / (t1 - t0) * (w - 4), box_y + h - v / chart["top"] * h)
                for t, v in pts
            ]
            pdf.set_draw_color(0, 71, 171)
            for (xa, ya), (xb, yb) in itertools.pairwise(xy):
                pdf.line(xa, ya, xb, yb)
            for xa, ya in xy:
                pdf.circle(xa, ya, 0.8, style="F")
    pdf.ln(h + 14)
    pdf.set_draw_color(0)


def report_html(athlete: dict, trends: dict[str, dict], cards: list[dict], made: datetime) -> str:
    doc = document(athlete, trends, cards, made)
    e = html.escape
    rows = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in doc["rows"])
    head = "".join(f"<th>{e(h)}</th>" for h in HEADER)
    charts = "".join(_svg(c) for c in doc["charts"])
    card_html = "".join(
        f"<h3>{e(c['title'])}</h3>" + "".join(f"<p>{e(line)}</p>" for line in c["lines"])
        for c in doc["cards"]
    )
    return (
        f"<!doctype html><html lang='en'><meta charset='utf-8'><title>{e(doc['title'])}"
        f"</title><body style='font-family:system-ui'><h1>{e(doc['title'])}</h1>"
        f"<p>{e(doc['about'])}</p><p>{e(doc['used'])}</p><p>{e(doc['method'])}</p>"
        f"<table><tr>{head}</tr>{rows}</table><div>{charts}</div>{card_html}</body></html>"
    )


def _svg(chart: dict) -> str:
    w, h, left, below = 240, 90, 44, 14
    e = html.escape
    pts = chart["points"]
    line = ""
    if pts:
        t0, t1 = pts[0][0], max(pts[-1][0], pts[0][0] + 1)
        xy = " ".join(
            f"{left + 5 + (t - t0) / (t1 - t0) * (w - 10):.1f},{h - v / chart['top'] * h:.1f}"
            for t, v in pts
        )
        line = f"<polyline fill='none' stroke='#0047ab' stroke-width='2' points='{xy}'/>" + "".join(
            f"<circle cx='{p.split(',')[0]}' cy='{p.split(',')[1]}' r='3' fill='#0047ab'/>"
            for p in xy.split()
        )  # a point each session: one session is a dot, not an empty line
    bottom, top = chart["y_labels"]
    first, last = chart["x_labels"]
    return (
        f"<figure style='display:inline-block'><figcaption>{e(chart['title'])}</figcaption>"
        f"<svg width='{left + w + 2}' height='{h + below}' font-size='10'>"
        f"<rect x='{left}' y='0' width='{w}' height='{h}' fill='none' stroke='#888'/>{line}"
        f"<text x='{left - 3}' y='10' text-anchor='end'>{e(top)}</text>"
        f"<text x='{left - 3}' y='{h}' text-anchor='end'>{e(bottom)}</text>"
        f"<text x='{left}' y='{h + below - 2}'>{e(first)}</text>"
        f"<text x='{left + w}' y='{h + below - 2}' text-anchor='end'>{e(last)}</text>"
        "</svg></figure>"
    )
