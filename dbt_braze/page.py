"""The report page (`dbt-braze report`): one self-contained HTML file from the run log
(history.History). Pure: records in, text out.

Everything is inline (CSS, a few lines of JS that sort the tables, SVG plots drawn here), so the
page opens from a file or a CI artifact with no server and no network; its Content Security
Policy allows nothing else to load, and only its own script to run. Every value from the run log
is data (a model's name, a rejection's reason, a payload): each is redacted of the API key and
escaped where it is written, in text and in attributes alike.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from dbt_braze.errors import UsageError
from dbt_braze.history import (
    DEFAULT_DAYS,
    REPORT_FILE,
    REQUIRED_MACROS,
    DriftFinding,
    Example,
    History,
    RejectionGroup,
    RunRow,
    model_name,
    read_history,
)
from dbt_braze.manifest import load_manifest
from dbt_braze.project import PACKAGES_SNIPPET
from dbt_braze.redaction import redact
from dbt_braze.warehouse import DbtContext, open_warehouse

# How bad a status is, for a run's overall status (the worst of its models').
SEVERITY = {
    "success": 0,
    "baseline": 0,
    "skipped": 1,
    "partial": 2,
    "refused": 3,
    "aborted": 4,
    "failed": 4,
}
FAILED = frozenset({"failed", "aborted", "refused"})
STATUS_COLORS = {
    "success": "#2e7d32",
    "baseline": "#1565c0",
    "skipped": "#9e9e9e",
    "partial": "#f29900",
    "refused": "#ad1457",
    "aborted": "#c62828",
    "failed": "#c62828",
}
PALETTE = (
    "#3b6fb6",
    "#e07b39",
    "#4a9d5b",
    "#b5478f",
    "#8c6d31",
    "#17a2b8",
    "#7b57c4",
    "#d4a017",
    "#6b8e23",
    "#c0504d",
)
MESSAGE_CHARS = 300
PAYLOAD_CHARS = 2000
CHART_WIDTH = 960


def esc(value: object) -> str:
    """A run-log value as HTML text or attribute: the API key redacted, then escaped."""
    return html.escape(redact("" if value is None else str(value)), quote=True)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _when(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else ""


def _number(value: int) -> str:
    return f"{value:,}"


@dataclass
class DayTotals:
    objects: int = 0
    data_points: int = 0
    requests: int = 0
    rate_limited: int = 0
    retries: int = 0
    rejected: int = 0
    runs: int = 0

    def add(self, run: RunRow) -> None:
        self.objects += run.objects_sent
        self.data_points += run.data_points
        self.requests += run.requests
        self.rate_limited += run.rate_limited
        self.retries += run.retries
        self.rejected += run.rejected
        self.runs += 1


@dataclass
class RunSummary:
    """One run, its models' rows together."""

    run_id: str
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    status: str
    exit_code: int | None
    models: int
    totals: DayTotals
    message: str


def render_page(history: History) -> str:
    models = sorted({r.model_unique_id for r in history.runs if r.model_unique_id})
    colors = {m: PALETTE[i % len(PALETTE)] for i, m in enumerate(models)}
    days = _days(history)
    per_day = _per_day(history.runs)
    body = "\n".join(
        [
            _header(history),
            _summary(history),
            _runs_section(history, models, colors),
            _volume_section(days, models, colors, per_day),
            _requests_section(days, per_day),
            _rejections_section(history.rejections),
            _drift_section(history),
        ]
    )
    script_hash = base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()
    policy = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        f"script-src 'sha256-{script_hash}'"
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>dbt-braze sync health: {esc(history.target or history.location)}</title>\n"
        f"<style>{STYLE}</style>\n</head>\n<body>\n{body}\n"
        f"<script>{SCRIPT}</script>\n</body>\n</html>\n"
    )


def _days(history: History) -> list[dt.date]:
    """Every day from the first run in the window (or the window's start) to today."""
    last = history.generated_at.date()
    starts = [r.started_at.date() for r in history.runs if r.started_at is not None]
    first = min(starts) if starts else last
    first = max(first, last - dt.timedelta(days=history.days))
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def _per_day(runs: Iterable[RunRow]) -> dict[tuple[dt.date, str], DayTotals]:
    totals: dict[tuple[dt.date, str], DayTotals] = defaultdict(DayTotals)
    for run in runs:
        if run.started_at is not None and run.model_unique_id:
            totals[(run.started_at.date(), run.model_unique_id)].add(run)
    return totals


def _runs(history: History) -> list[RunSummary]:
    grouped: dict[str, list[RunRow]] = defaultdict(list)
    for row in history.runs:
        grouped[row.run_id].append(row)
    summaries = []
    for run_id, rows in grouped.items():
        totals = DayTotals()
        for row in rows:
            totals.add(row)
        worst = max(rows, key=lambda r: SEVERITY.get(r.status, 1))
        codes = [r.exit_code for r in rows if r.exit_code is not None]
        starts = [r.started_at for r in rows if r.started_at is not None]
        ends = [r.finished_at for r in rows if r.finished_at is not None]
        message = next((r.message for r in rows if r.status in FAILED and r.message), "")
        summaries.append(
            RunSummary(
                run_id,
                min(starts) if starts else None,
                max(ends) if ends else None,
                worst.status,
                max(codes) if codes else None,
                sum(1 for r in rows if r.model_unique_id),
                totals,
                message or next((r.message for r in rows if r.message), ""),
            )
        )
    return sorted(summaries, key=lambda s: s.started_at or dt.datetime.min, reverse=True)


def _header(history: History) -> str:
    target = f" · target {esc(history.target)}" if history.target else ""
    return (
        "<header><h1>dbt-braze sync health</h1>"
        f'<p class="meta">Run log in <code>{esc(history.location)}</code>{target} · the last '
        f"{history.days} days · generated {esc(_when(history.generated_at))} UTC</p></header>"
    )


def _summary(history: History) -> str:
    runs = _runs(history)
    model_rows = [r for r in history.runs if r.model_unique_id]
    tiles = [
        ("runs", "runs", len(runs)),
        ("failed-runs", "failed runs", sum(1 for r in runs if r.status in FAILED)),
        ("objects", "objects sent", sum(r.objects_sent for r in model_rows)),
        ("data-points", "data points", sum(r.data_points for r in model_rows)),
        ("requests", "requests", sum(r.requests for r in model_rows)),
        ("rate-limited", "429 answers", sum(r.rate_limited for r in model_rows)),
        ("rejected", "rejected rows", sum(r.rejected for r in model_rows)),
        ("drift", "drifted values", sum(d.differences for d in history.drift)),
    ]
    cells = "".join(
        f'<div class="tile{" bad" if key in ("failed-runs", "rejected", "drift") and value else ""}"'
        f' id="total-{key}" data-value="{value}"><span class="value">{_number(value)}</span>'
        f'<span class="label">{label}</span></div>'
        for key, label, value in tiles
    )
    empty = ""
    if "braze_sync_runs" not in history.tables:
        empty = (
            '<p class="empty">No run recorded yet: braze_sync_runs does not exist in '
            f"<code>{esc(history.location)}</code> (a sync makes it).</p>"
        )
    return f'<section id="summary"><div class="tiles">{cells}</div>{empty}</section>'


def _runs_section(history: History, models: list[str], colors: dict[str, str]) -> str:
    runs = _runs(history)
    headers = [
        ("started (UTC)", "text"),
        ("run", "text"),
        ("status", "text"),
        ("exit", "number"),
        ("models", "number"),
        ("objects", "number"),
        ("data points", "number"),
        ("requests", "number"),
        ("429s", "number"),
        ("retries", "number"),
        ("rejected", "number"),
        ("seconds", "number"),
        ("message", "text"),
    ]
    rows = []
    for run in runs:
        seconds = (
            (run.finished_at - run.started_at).total_seconds()
            if run.started_at and run.finished_at
            else 0.0
        )
        t = run.totals
        rows.append(
            [
                _cell(_when(run.started_at)),
                _cell(run.run_id, code=True),
                _status_cell(run.status),
                _num("" if run.exit_code is None else run.exit_code),
                _num(run.models),
                _num(t.objects),
                _num(t.data_points),
                _num(t.requests),
                _num(t.rate_limited),
                _num(t.retries),
                _num(t.rejected),
                _num(round(seconds, 1)),
                _cell(_short(run.message, MESSAGE_CHARS)),
            ]
        )
    legend = _legend([(s, STATUS_COLORS[s]) for s in ("success", "partial", "skipped", "failed")])
    return (
        '<section id="runs"><h2>Runs</h2>'
        "<p>Each dot is one model in one run, coloured by how it ended; a run that failed "
        "before it knew its models has a row of its own (run).</p>"
        f"{_timeline(history, models)}{legend}"
        f"{_table('runs-table', headers, rows)}</section>"
    )


def _volume_section(
    days: list[dt.date],
    models: list[str],
    colors: dict[str, str],
    per_day: dict[tuple[dt.date, str], DayTotals],
) -> str:
    legend = _legend([(model_name(m), colors[m]) for m in models])
    charts = "".join(
        f"<figure><figcaption>{caption} per day</figcaption>"
        f"{_stacked_bars(chart_id, days, models, colors, per_day, field)}</figure>"
        for chart_id, caption, field in (
            ("data-points-chart", "Data points", "data_points"),
            ("objects-chart", "Objects sent", "objects"),
        )
    )
    headers = [
        ("day", "text"),
        ("model", "text"),
        ("runs", "number"),
        ("objects", "number"),
        ("data points", "number"),
        ("requests", "number"),
        ("429s", "number"),
        ("retries", "number"),
        ("rejected", "number"),
    ]
    rows = [
        [
            _cell(day.isoformat()),
            _cell(model_name(model), title=model),
            _num(t.runs),
            _num(t.objects),
            _num(t.data_points),
            _num(t.requests),
            _num(t.rate_limited),
            _num(t.retries),
            _num(t.rejected),
        ]
        for (day, model), t in sorted(per_day.items(), key=lambda item: (item[0][0], item[0][1]))
    ]
    return (
        '<section id="volume"><h2>Data points and objects per model per day</h2>'
        f"{legend}{charts}{_table('per-day-table', headers, rows)}</section>"
    )


def _requests_section(days: list[dt.date], per_day: dict[tuple[dt.date, str], DayTotals]) -> str:
    requests = {day: 0 for day in days}
    limited = {day: 0 for day in days}
    for (day, _), t in per_day.items():
        if day in requests:
            requests[day] += t.requests
            limited[day] += t.rate_limited
    legend = _legend([("requests", "#3b6fb6"), ("429 answers", "#c62828")])
    return (
        '<section id="requests"><h2>Requests and 429s per day</h2>'
        "<p>Requests sent to Braze, and how many of them Braze answered 429 (rate limited; "
        "each was waited for and sent again).</p>"
        f"{legend}{_paired_bars('requests-chart', days, requests, limited)}</section>"
    )


def _rejections_section(groups: Sequence[RejectionGroup]) -> str:
    if not groups:
        return (
            '<section id="rejections"><h2>Rejections by reason</h2>'
            '<p class="empty">No row was rejected in this window.</p></section>'
        )
    top = sorted(groups, key=lambda g: g.rows, reverse=True)[:10]
    bars = _horizontal_bars(
        "rejections-chart", [(f"{model_name(g.model_unique_id)}: {g.reason}", g.rows) for g in top]
    )
    headers = [
        ("model", "text"),
        ("source", "text"),
        ("reason", "text"),
        ("rows", "number"),
        ("last (UTC)", "text"),
        ("examples", "text"),
    ]
    rows = [
        [
            _cell(model_name(g.model_unique_id), title=g.model_unique_id),
            _cell(g.source),
            _cell(g.reason, css="reason"),
            _num(g.rows),
            _cell(_when(g.last_at)),
            _examples(g.examples),
        ]
        for g in groups
    ]
    return (
        '<section id="rejections"><h2>Rejections by reason</h2>'
        "<p>Rejected rows are not recorded as delivered: the next run tries them again. All of "
        "them: <code>braze_rejections</code>.</p>"
        f"{bars}{_table('rejections-table', headers, rows)}</section>"
    )


def _drift_section(history: History) -> str:
    findings: Sequence[DriftFinding] = history.drift
    if not findings:
        never = "braze_drift" not in history.tables
        text = (
            "dbt-braze verify has not run on this target (it reads profiles back from Braze)."
            if never
            else "dbt-braze verify found no drift in this window."
        )
        return f'<section id="drift"><h2>Drift found by verify</h2><p class="empty">{text}</p></section>'
    headers = [
        ("checked (UTC)", "text"),
        ("verify run", "text"),
        ("model", "text"),
        ("differences", "number"),
        ("examples", "text"),
    ]
    rows = [
        [
            _cell(_when(f.checked_at)),
            _cell(f.run_id, code=True),
            _cell(model_name(f.model_unique_id), title=f.model_unique_id),
            _num(f.differences),
            _examples(f.examples),
        ]
        for f in findings
    ]
    return (
        '<section id="drift"><h2>Drift found by verify</h2>'
        "<p>Values Braze holds otherwise than the state records as delivered "
        "(<code>braze_drift</code>); <code>dbt-braze verify --repair</code> has the next sync "
        f"send them again.</p>{_table('drift-table', headers, rows)}</section>"
    )


# --- tables ---------------------------------------------------------------------------------


def _cell(text: object, *, title: str = "", code: bool = False, css: str = "") -> str:
    inner = f"<code>{esc(text)}</code>" if code else esc(text)
    attributes = f' title="{esc(title)}"' if title else ""
    attributes += f' class="{css}"' if css else ""
    return f"<td{attributes}>{inner}</td>"


def _num(value: object) -> str:
    shown = _number(value) if isinstance(value, int) else esc(value)
    return f'<td class="num" data-sort="{esc(value)}">{shown}</td>'


def _status_cell(status: str) -> str:
    color = STATUS_COLORS.get(status, "#616161")
    return (
        f'<td data-sort="{SEVERITY.get(status, 1)}"><span class="status" '
        f'style="background:{color}">{esc(status)}</span></td>'
    )


def _examples(examples: Sequence[Example]) -> str:
    items = "".join(
        f'<li><code>{esc(e.identifier)}</code> <span class="run">run {esc(e.run_id)}</span>'
        f"<pre>{esc(_short(e.detail, PAYLOAD_CHARS))}</pre></li>"
        for e in examples
    )
    return f'<td><details><summary>{len(examples)} shown</summary><ul class="examples">{items}</ul></details></td>'


def _table(table_id: str, headers: list[tuple[str, str]], rows: list[list[str]]) -> str:
    head = "".join(
        f'<th data-type="{kind}" tabindex="0" title="sort">{esc(name)}</th>'
        for name, kind in headers
    )
    if not rows:
        return f'<p class="empty" id="{table_id}">Nothing in this window.</p>'
    body = "\n".join(f"<tr>{''.join(cells)}</tr>" for cells in rows)
    return (
        f'<div class="scroll"><table class="sortable" id="{table_id}"><thead><tr>{head}</tr>'
        f"</thead><tbody>\n{body}\n</tbody></table></div>"
    )


def _legend(items: Sequence[tuple[str, str]]) -> str:
    keys = "".join(
        f'<span class="key"><span class="swatch" style="background:{color}"></span>{esc(label)}</span>'
        for label, color in items
    )
    return f'<div class="legend">{keys}</div>'


# --- plots (inline SVG) ---------------------------------------------------------------------

LEFT, RIGHT, TOP, BOTTOM = 70, 10, 10, 28


def _svg(chart_id: str, height: int, label: str, content: str) -> str:
    return (
        f'<svg id="{chart_id}" class="chart" viewBox="0 0 {CHART_WIDTH} {height}" '
        f'width="{CHART_WIDTH}" height="{height}" role="img" aria-label="{esc(label)}" '
        f'xmlns="http://www.w3.org/2000/svg">{content}</svg>'
    )


def _y_axis(maximum: int, height: int) -> str:
    """Gridlines and labels at 0, half and the top."""
    plot = height - TOP - BOTTOM
    parts = []
    for fraction in (0.0, 0.5, 1.0):
        y = TOP + plot * (1 - fraction)
        value = round(maximum * fraction)
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{CHART_WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_number(value)}</text>'
        )
    return "".join(parts)


def _x_labels(days: list[dt.date], slot: float, height: int) -> str:
    every = max(1, len(days) // 12)
    return "".join(
        f'<text class="axis" x="{LEFT + slot * (i + 0.5):.1f}" y="{height - 8}" '
        f'text-anchor="middle">{day.strftime("%m-%d")}</text>'
        for i, day in enumerate(days)
        if i % every == 0 or i == len(days) - 1
    )


def _stacked_bars(
    chart_id: str,
    days: list[dt.date],
    models: list[str],
    colors: dict[str, str],
    per_day: dict[tuple[dt.date, str], DayTotals],
    field: str,
) -> str:
    height = 220
    plot = height - TOP - BOTTOM
    totals = [
        sum(getattr(per_day[(d, m)], field) for m in models if (d, m) in per_day) for d in days
    ]
    maximum = max([*totals, 1])
    slot = (CHART_WIDTH - LEFT - RIGHT) / max(len(days), 1)
    width = max(min(slot * 0.7, 60), 2)
    bars = []
    for i, day in enumerate(days):
        x = LEFT + slot * i + (slot - width) / 2
        base = TOP + plot
        for model in models:
            t = per_day.get((day, model))
            value = getattr(t, field) if t is not None else 0
            if not value:
                continue
            h = plot * value / maximum
            base -= h
            bars.append(
                f'<rect class="bar" x="{x:.1f}" y="{base:.1f}" width="{width:.1f}" height="{h:.1f}" '
                f'fill="{colors[model]}" data-day="{day.isoformat()}" data-model="{esc(model)}" '
                f'data-value="{value}"><title>{esc(model_name(model))}, {day.isoformat()}: '
                f"{_number(value)}</title></rect>"
            )
    content = _y_axis(maximum, height) + "".join(bars) + _x_labels(days, slot, height)
    return _svg(chart_id, height, f"{field} per model per day", content)


def _paired_bars(
    chart_id: str, days: list[dt.date], first: dict[dt.date, int], second: dict[dt.date, int]
) -> str:
    height = 200
    plot = height - TOP - BOTTOM
    maximum = max([*first.values(), *second.values(), 1])
    slot = (CHART_WIDTH - LEFT - RIGHT) / max(len(days), 1)
    width = max(min(slot * 0.35, 30), 1)
    bars = []
    for i, day in enumerate(days):
        x = LEFT + slot * i + slot / 2 - width
        for series, values, color, offset in (
            ("requests", first, "#3b6fb6", 0.0),
            ("rate_limited", second, "#c62828", width),
        ):
            value = values.get(day, 0)
            h = plot * value / maximum
            bars.append(
                f'<rect class="bar" x="{x + offset:.1f}" y="{TOP + plot - h:.1f}" width="{width:.1f}" '
                f'height="{h:.1f}" fill="{color}" data-day="{day.isoformat()}" '
                f'data-series="{series}" data-value="{value}"><title>{series.replace("_", " ")}, '
                f"{day.isoformat()}: {_number(value)}</title></rect>"
            )
    content = _y_axis(maximum, height) + "".join(bars) + _x_labels(days, slot, height)
    return _svg(chart_id, height, "requests and 429 answers per day", content)


def _horizontal_bars(chart_id: str, items: list[tuple[str, int]]) -> str:
    row = 24
    height = TOP + row * len(items) + 8
    label_width = 420
    maximum = max([v for _, v in items] + [1])
    span = CHART_WIDTH - label_width - RIGHT - 60
    parts = []
    for i, (label, value) in enumerate(items):
        y = TOP + row * i
        w = max(span * value / maximum, 1)
        parts.append(
            f'<text class="label" x="{label_width - 8}" y="{y + 15}" text-anchor="end">'
            f"{esc(_short(label, 60))}<title>{esc(label)}</title></text>"
            f'<rect class="bar" x="{label_width}" y="{y + 3}" width="{w:.1f}" height="{row - 8}" '
            f'fill="#c62828" data-label="{esc(label)}" data-value="{value}"/>'
            f'<text class="axis" x="{label_width + w + 6:.1f}" y="{y + 15}">{_number(value)}</text>'
        )
    return _svg(chart_id, height, "rejected rows by reason", "".join(parts))


def _timeline(history: History, models: list[str]) -> str:
    lanes = list(models)
    if any(not r.model_unique_id for r in history.runs):
        lanes.append("")
    if not lanes:
        return ""
    row = 26
    left = 200
    height = TOP + row * len(lanes) + BOTTOM
    end = history.generated_at
    start = end - dt.timedelta(days=history.days)
    times = [r.started_at for r in history.runs if r.started_at is not None]
    if times:
        start = max(start, min(times) - dt.timedelta(hours=1))
    span = max((end - start).total_seconds(), 1.0)
    width = CHART_WIDTH - left - RIGHT
    parts = []
    for i, lane in enumerate(lanes):
        y = TOP + row * i + row / 2
        parts.append(
            f'<line class="grid" x1="{left}" x2="{CHART_WIDTH - RIGHT}" y1="{y}" y2="{y}"/>'
            f'<text class="label" x="{left - 8}" y="{y + 4}" text-anchor="end">'
            f"{esc(_short(model_name(lane), 28))}<title>{esc(lane or 'the run itself')}</title></text>"
        )
    index = {lane: i for i, lane in enumerate(lanes)}
    for run in history.runs:
        if run.started_at is None:
            continue
        x = left + width * (run.started_at - start).total_seconds() / span
        y = TOP + row * index[run.model_unique_id] + row / 2
        color = STATUS_COLORS.get(run.status, "#616161")
        note = f": {_short(run.message, MESSAGE_CHARS)}" if run.message else ""
        parts.append(
            f'<circle class="run" cx="{x:.1f}" cy="{y}" r="5" fill="{color}" '
            f'data-run="{esc(run.run_id)}" data-model="{esc(run.model_unique_id)}" '
            f'data-status="{esc(run.status)}"><title>{esc(model_name(run.model_unique_id))} '
            f"{esc(_when(run.started_at))} UTC: {esc(run.status)}{esc(note)}</title></circle>"
        )
    parts.append(
        f'<text class="axis" x="{left}" y="{height - 8}">{esc(_when(start))}</text>'
        f'<text class="axis" x="{CHART_WIDTH - RIGHT}" y="{height - 8}" text-anchor="end">'
        f"{esc(_when(end))}</text>"
    )
    return _svg("runs-chart", height, "runs over time by model and status", "".join(parts))


STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328;
  margin: 0 auto; padding: 16px 24px 48px; max-width: 1180px; background: #fff; }
h1 { font-size: 22px; margin: 8px 0 2px; } h2 { font-size: 17px; margin: 28px 0 6px; }
.meta, .empty { color: #57606a; } code { font: 12px ui-monospace, Menlo, Consolas, monospace; }
.tiles { display: flex; flex-wrap: wrap; gap: 10px; margin: 14px 0; }
.tile { border: 1px solid #d0d7de; border-radius: 8px; padding: 8px 14px; min-width: 110px; }
.tile .value { display: block; font-size: 20px; font-weight: 600; }
.tile .label { color: #57606a; font-size: 12px; } .tile.bad .value { color: #c62828; }
figure { margin: 10px 0; } figcaption { font-weight: 600; margin-bottom: 4px; }
svg.chart { max-width: 100%; height: auto; display: block; }
svg .grid { stroke: #e6e8eb; } svg .axis, svg .label { font-size: 11px; fill: #57606a; }
svg .label { fill: #1f2328; } svg .bar:hover, svg .run:hover { opacity: .75; }
.legend { display: flex; flex-wrap: wrap; gap: 12px; margin: 6px 0; font-size: 12px; }
.swatch { display: inline-block; width: 11px; height: 11px; border-radius: 2px; margin-right: 5px;
  vertical-align: -1px; }
.scroll { overflow-x: auto; margin-top: 10px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { border-bottom: 1px solid #e6e8eb; padding: 5px 8px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; cursor: pointer; user-select: none; white-space: nowrap; }
th[aria-sort="ascending"]::after { content: " \\25B2"; }
th[aria-sort="descending"]::after { content: " \\25BC"; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.reason { max-width: 380px; overflow-wrap: anywhere; }
.status { color: #fff; border-radius: 10px; padding: 1px 8px; font-size: 12px; }
ul.examples { margin: 4px 0; padding-left: 16px; } .run { color: #57606a; font-size: 12px; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; background: #f6f8fa; padding: 4px 6px;
  margin: 2px 0 6px; font-size: 12px; max-width: 520px; }
"""

# Sorts a table by the column whose header is clicked (again: the other way). A cell's
# data-sort, where present, is its value for sorting; numbers sort as numbers.
SCRIPT = """
(function () {
  function value(cell, numeric) {
    var raw = cell.hasAttribute('data-sort') ? cell.getAttribute('data-sort') : cell.textContent;
    if (!numeric) { return raw.toLowerCase(); }
    var n = parseFloat(raw);
    return isNaN(n) ? -Infinity : n;
  }
  document.querySelectorAll('table.sortable').forEach(function (table) {
    var headers = table.querySelectorAll('th');
    headers.forEach(function (th, column) {
      function sort() {
        var ascending = th.getAttribute('aria-sort') !== 'ascending';
        var numeric = th.getAttribute('data-type') === 'number';
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = value(a.cells[column], numeric), y = value(b.cells[column], numeric);
          var order = x < y ? -1 : x > y ? 1 : 0;
          return ascending ? order : -order;
        });
        headers.forEach(function (h) { h.removeAttribute('aria-sort'); });
        th.setAttribute('aria-sort', ascending ? 'ascending' : 'descending');
        rows.forEach(function (row) { body.appendChild(row); });
      }
      th.addEventListener('click', sort);
      th.addEventListener('keydown', function (e) { if (e.key === 'Enter') { sort(); } });
    });
  });
})();
"""


def run_report(
    context: DbtContext,
    output: Path | None,
    days: int = DEFAULT_DAYS,
    say: Callable[[str], None] = lambda line: None,
    lock_timeout: float = 60.0,
) -> Path:
    """The page written from the run log of the context's target: to `output`, or to
    `<target path>/dbt_braze_report.html`. Returns where."""
    manifest = load_manifest(context.target_path)
    missing = [m for m in REQUIRED_MACROS if m not in manifest.package_macros]
    if missing:
        raise UsageError(
            "the dbt_braze package in this project has no report macros (missing "
            f"{', '.join(missing)}): install the version matching the command, then run `dbt "
            f"deps` and `dbt parse`.\n{PACKAGES_SNIPPET}"
        )
    with open_warehouse(context, manifest.path, wait_seconds=lock_timeout, on_wait=say) as wh:
        history = read_history(wh, days, context.target)
    path = output if output is not None else context.target_path / REPORT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(render_page(history), encoding="utf-8")
    temporary.replace(path)
    return path
