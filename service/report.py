"""A report a coach can hand over: one page per athlete with the trends by date and
the last session's rep cards, as PDF (fpdf2: pure Python, made on the Pi with no
internet) or HTML. Pure: the numbers in, the document out (docs/progress.md)."""

from __future__ import annotations

import contextlib
import html
import itertools
from datetime import datetime
from pathlib import Path

from fpdf import FPDF

# The measures on the page: name, label, unit, format
MEASURES = (
    ("f0_n_kg", "F0", "N/kg", "{:.2f}"),
    ("mss_m_s", "Top speed (MSS)", "m/s", "{:.2f}"),
    ("pmax_w_kg", "Pmax", "W/kg", "{:.1f}"),
    ("tau_s", "tau", "s", "{:.2f}"),
    ("min_contact_time_s", "Best contact", "s", "{:.3f}"),
    ("aligned_share", "Aligned steps", "share", "{:.2f}"),
)


def _num(fmt: str, v) -> str:
    return "-" if v is None else fmt.format(v)


def _verdict(change: dict | None) -> str:
    if change is None:
        return "too few sessions"
    if not change["flagged"]:
        return "no clear change"
    return "better" if change["better"] else "worse"


def summary_rows(trends: dict[str, dict]) -> list[list[str]]:
    """Per measure: latest typical rep, change, typical error, SWC, verdict."""
    rows = []
    for key, label, unit, fmt in MEASURES:
        t = trends[key]
        latest = t["sessions"][-1]["typical"] if t["sessions"] else None
        c = t["change"]
        change = (
            None if c is None else f"{c['change']:+.3g} ({c['lower']:+.3g} to {c['upper']:+.3g})"
        )
        rows.append(
            [f"{label} ({unit})", _num(fmt, latest), change or "-",
             _num("{:.3g}", t["typical_error"]), _num("{:.3g}", t["swc"]), _verdict(c)]
        )  # fmt: skip
    return rows


HEADER = ["Measure", "Latest (typical)", "Change (90 % CI)", "Typical error", "SWC", "Verdict"]


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
    pdf = _new_pdf()
    pdf.set_auto_page_break(True, margin=12)
    pdf.add_page()
    pdf.set_font(FONT, "B", 16)
    pdf.cell(0, 9, f"Stridesync report: {athlete['name']}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "", 9)
    dates = [s["started_at"] for s in trends["f0_n_kg"]["sessions"]]
    period = f"{dates[0]:%Y-%m-%d} to {dates[-1]:%Y-%m-%d}" if dates else "no sessions"
    pdf.cell(
        0, 5, f"{athlete['body_mass_kg']:g} kg, {athlete['height_m']:g} m. Sessions {period}."
        f" Made {made:%Y-%m-%d %H:%M} UTC.", new_x="LMARGIN", new_y="NEXT",
    )  # fmt: skip
    pdf.multi_cell(
        0, 4, "Change: the latest two sessions' reps against the earliest two. A change is"
        " called better or worse only when its whole 90 % interval lies beyond the smallest"
        " worthwhile change (SWC: 0.2 x the squad's SD), so that it exceeds the measure's"
        " typical error too (Hopkins 2000).", new_x="LMARGIN", new_y="NEXT",
    )  # fmt: skip
    _table(pdf, HEADER, summary_rows(trends), (46, 26, 50, 24, 18, 26))
    _charts(pdf, trends)
    for card in cards:
        _card(pdf, card)
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


def _charts(pdf: FPDF, trends: dict[str, dict]) -> None:
    """Each measure's typical rep by date, its axis from zero (honest)."""
    pdf.ln(2)
    w, h, gap = 58, 28, 4
    for i, (key, label, unit, _fmt) in enumerate(MEASURES):
        x0 = pdf.l_margin + (i % 3) * (w + gap)
        if i % 3 == 0 and i:
            pdf.ln(h + 10)
        y0 = pdf.get_y()
        pdf.set_font(FONT, "B", 7)
        pdf.text(x0, y0 + 3, f"{label} ({unit}) by date")
        pts = [(s["started_at"].timestamp(), s["typical"]) for s in trends[key]["sessions"]]
        top = max([v for _, v in pts] + [1e-9]) * 1.15
        box_y = y0 + 5
        pdf.set_draw_color(120)
        pdf.rect(x0, box_y, w, h)
        if len(pts) >= 1:
            t0, t1 = pts[0][0], max(pts[-1][0], pts[0][0] + 1)
            xy = [
                (x0 + 2 + (t - t0) / (t1 - t0) * (w - 4), box_y + h - v / top * h) for t, v in pts
            ]
            pdf.set_draw_color(0, 71, 171)
            for (xa, ya), (xb, yb) in itertools.pairwise(xy):
                pdf.line(xa, ya, xb, yb)
            for xa, ya in xy:
                pdf.circle(xa, ya, 0.8, style="F")
            pdf.set_font(FONT, "", 6)
            pdf.text(x0 + 1, box_y + h + 3, f"0 to {top:.3g}; {len(pts)} sessions")
    pdf.ln(h + 12)
    pdf.set_draw_color(0)


def _card(pdf: FPDF, card: dict) -> None:
    p = card["profile"]
    pdf.set_font(FONT, "B", 10)
    pdf.cell(
        0,
        6,
        f"Last session, rep {card['rep']}: {card['steps']} steps",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.set_font(FONT, "", 8)
    profile = (
        f"MSS {_num('{:.2f}', p['mss_m_s'])} m/s, tau {_num('{:.2f}', p['tau_s'])} s,"
        f" F0 {_num('{:.0f}', p['f0_n'])} N ({_num('{:.2f}', p['f0_n_kg'])} N/kg),"
        f" V0 {_num('{:.2f}', p['v0_m_s'])} m/s, Pmax {_num('{:.0f}', p['pmax_w'])} W"
        f" ({_num('{:.1f}', p['pmax_w_kg'])} W/kg), RFmax {_num('{:.2f}', p['rf_max'])},"
        f" DRF {_num('{:.3f}', p['drf'])}"
    )
    pdf.multi_cell(0, 4, profile, new_x="LMARGIN", new_y="NEXT")
    splits = "  ".join(
        f"{s['from_m']:g}-{s['to_m']:g} m {s['time_s']:.2f} s" for s in card["splits"]
    )
    pdf.multi_cell(
        0, 4, f"Splits ({card['splits_from'] or 'none'}): {splits or '-'}", new_x="LMARGIN",
        new_y="NEXT",
    )  # fmt: skip
    v = card["verdict"]
    pdf.multi_cell(
        0, 4, f"Verdict: {v['aligned']} aligned, {v['push']} push, {v['swing']} swing,"
        f" {v['torso']} torso, {v['none']} without one.", new_x="LMARGIN", new_y="NEXT",
    )  # fmt: skip
    pdf.ln(1)


def report_html(athlete: dict, trends: dict[str, dict], cards: list[dict], made: datetime) -> str:
    e = html.escape
    rows = "".join(
        "<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in summary_rows(trends)
    )
    head = "".join(f"<th>{e(h)}</th>" for h in HEADER)
    charts = "".join(_svg(trends[key], f"{label} ({unit})") for key, label, unit, _ in MEASURES)
    card_html = "".join(
        f"<h3>Last session, rep {c['rep']}</h3><p>"
        + e(", ".join(f"{k} {v:.3g}" for k, v in c["profile"].items() if v is not None))
        + "</p><p>Splits ("
        + e(c["splits_from"] or "none")
        + "): "
        + e("  ".join(f"{s['from_m']:g}-{s['to_m']:g} m {s['time_s']:.2f} s" for s in c["splits"]))
        + "</p>"
        for c in cards
    )
    return (
        f"<!doctype html><html lang='en'><meta charset='utf-8'><title>Stridesync report:"
        f" {e(athlete['name'])}</title><body style='font-family:system-ui'>"
        f"<h1>Stridesync report: {e(athlete['name'])}</h1><p>{athlete['body_mass_kg']:g} kg."
        f" Made {made:%Y-%m-%d %H:%M} UTC.</p><table><tr>{head}</tr>{rows}</table>"
        f"<div>{charts}</div>{card_html}</body></html>"
    )


def _svg(trend: dict, title: str) -> str:
    pts = [(s["started_at"].timestamp(), s["typical"]) for s in trend["sessions"]]
    w, h = 240, 90
    if not pts:
        return ""
    top = max(v for _, v in pts) * 1.15 or 1.0
    t0, t1 = pts[0][0], max(pts[-1][0], pts[0][0] + 1)
    xy = " ".join(
        f"{5 + (t - t0) / (t1 - t0) * (w - 10):.1f},{h - v / top * h:.1f}" for t, v in pts
    )
    return (
        f"<figure style='display:inline-block'><figcaption>{html.escape(title)} by date, from 0"
        f"</figcaption><svg width='{w}' height='{h}' style='border:1px solid #888'>"
        f"<polyline fill='none' stroke='#0047ab' stroke-width='2' points='{xy}'/></svg></figure>"
    )
