"""Plotly figures for the pages: titled, axes labelled with units, one colour per provider on every page.

The figures arrive typed (the views' dataclasses, money as Decimal); money becomes float here only to be drawn.
Figures are plain Plotly specs (trace and layout dicts) in a `Chart`, which st.plotly_chart sends as they are:
plotly.express draws the same bars ten to twenty times slower, and even go.Figure builds a validated object per
trace and property, then deep-copies plotly's template into every figure it sends. tests/pages/test_charts.py
checks that each spec is one go.Figure accepts and sends the same.
"""

from __future__ import annotations

import functools
import hashlib
import json
from datetime import date, timedelta
from decimal import Decimal
from importlib import resources

import plotly.graph_objects as go
import plotly.io as pio

from core.display import percent

PROVIDER_COLORS = {
    "openai": "#10a37f",
    "anthropic": "#d97757",
    "gemini": "#4285f4",
    "google": "#4285f4",
    "mistral": "#fa520f",
    "ollama": "#6b7280",
    "azure": "#0078d4",
    "bedrock": "#ff9900",
    "groq": "#f55036",
    "deepseek": "#4d6bfe",
}
# plotly's "Safe" qualitative palette, for a provider without a colour of its own.
_FALLBACK = [
    "rgb(136, 204, 238)",
    "rgb(204, 102, 119)",
    "rgb(221, 204, 119)",
    "rgb(17, 119, 51)",
    "rgb(51, 34, 136)",
    "rgb(170, 68, 153)",
    "rgb(68, 170, 153)",
    "rgb(153, 153, 51)",
    "rgb(136, 34, 85)",
    "rgb(102, 17, 0)",
    "rgb(136, 136, 136)",
]
UNITS = {"cost": "Cost (USD)", "tokens": "Tokens", "jobs": "Jobs (calls)"}
_MARGIN = {"l": 10, "r": 10, "t": 50, "b": 10}


@functools.cache
def _template(name: str | None) -> dict | None:
    """Plotly's template `name` as go.Figure puts it in every figure, read from plotly's own file: building it as
    a validated go.layout.Template costs about 0.1 s in a new process. Shared by every figure: read only."""
    if not name:
        return None
    path = resources.files("plotly") / "package_data" / "templates" / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else pio.templates[name].to_plotly_json()


class Chart(go.Figure):
    """A Plotly figure kept as the plain spec it was made from ({"data": [trace dicts], "layout": {...}}).

    st.plotly_chart takes any go.Figure and sends its to_dict(); here that is what go.Figure(spec).to_dict()
    gives (the spec plus the default template), without building plotly's validated objects, which is why
    go.Figure.__init__ is not called. Only the figure-as-data methods below work; the rest of go.Figure's API
    (update_layout, show...) is not for these figures."""

    def __init__(self, spec: dict):
        self._spec = spec

    @property
    def spec(self) -> dict:
        return self._spec

    def to_dict(self) -> dict:
        # Fresh trace and layout dicts: Streamlit pops each trace's "uid" from what it gets.
        layout = dict(self._spec.get("layout", {}))
        template = _template(pio.templates.default)
        if template is not None:
            layout.setdefault("template", template)
        return {"data": [dict(trace) for trace in self._spec.get("data", [])], "layout": layout}

    def to_plotly_json(self) -> dict:
        return self.to_dict()

    def to_json(self, *args, **kwargs) -> str:
        return pio.to_json(self.to_dict(), *args, **{"validate": False, **kwargs})


def provider_color(provider: str) -> str:
    """A fixed colour per provider; an unknown one gets a colour from its name, stable across pages and runs."""
    if provider in PROVIDER_COLORS:
        return PROVIDER_COLORS[provider]
    h = int(hashlib.sha1(provider.encode()).hexdigest(), 16)
    return _FALLBACK[h % len(_FALLBACK)]


def color_map(providers) -> dict:
    return {p: provider_color(p) for p in providers}


def num(value) -> float:
    """A figure as a float for drawing only (money stays Decimal everywhere else); None -> 0."""
    return float(value) if value is not None else 0.0


def _figure(data: list[dict], title: str, x: str, y: str, *, height: int = 380, **layout) -> Chart:
    """A titled figure with labelled axes; `layout` adds settings (axis ones merge into the titled axes)."""
    base = {
        "title": {"text": title},
        "xaxis": {"title": {"text": x}},
        "yaxis": {"title": {"text": y}},
        "height": height,
        "legend": {"title": {"text": ""}},
        "margin": _MARGIN,
    }
    for key, value in layout.items():
        base[key] = base.get(key, {}) | value if isinstance(value, dict) else value
    return Chart({"data": data, "layout": base})


def _by_provider(rows, x, y, **trace) -> list[dict]:
    """Bars, one trace per provider (its colour, its legend entry), in order of first appearance."""
    groups: dict[str, tuple[list, list]] = {}
    for r in rows:
        xs, ys = groups.setdefault(r.provider, ([], []))
        xs.append(x(r))
        ys.append(y(r))
    return [
        {"type": "bar", "name": p, "x": xs, "y": ys, "marker": {"color": provider_color(p)}, **trace}
        for p, (xs, ys) in groups.items()
    ]


def daily_stacked(rows, metric: str = "cost") -> Chart:
    """Rows with .day, .provider and the metric (cost, tokens, jobs)."""
    value = (lambda r: num(r.cost)) if metric == "cost" else (lambda r: getattr(r, metric))
    data = _by_provider(rows, lambda r: r.day.isoformat(), value)
    return _figure(data, f"Daily {metric} by provider", "Day (UTC)", UNITS[metric], barmode="stack")


def provider_bars(rows, cost_key: str = "cost") -> Chart:
    """Rows with .provider, .percentage and a cost attribute named `cost_key`."""
    data = [
        {
            "type": "bar",
            "name": r.provider,
            "x": [r.provider],
            "y": [num(getattr(r, cost_key))],
            "text": [percent(r.percentage)],
            "marker": {"color": provider_color(r.provider)},
        }
        for r in rows
    ]
    return _figure(data, "Cost by provider", "Provider", "Cost (USD)", showlegend=False)


def model_bars(rows, top: int = 15) -> Chart:
    """Rows with .model, .provider and .cost, dearest first; the dearest at the top, whatever the provider."""
    rows = rows[:top]
    data = _by_provider(rows, lambda r: num(r.cost), lambda r: r.model, orientation="h")
    return _figure(
        data,
        f"Cost by model (top {len(rows)})",
        "Cost (USD)",
        "Model",
        height=max(300, 28 * len(rows) + 120),
        yaxis={"categoryorder": "total ascending"},
    )


def operation_bars(rows) -> Chart:
    data = [
        {
            "type": "bar",
            "x": [r.operation for r in rows],
            "y": [num(r.cost) for r in rows],
            "customdata": [[r.calls, r.tokens] for r in rows],
            "marker": {"color": "#6366f1"},
            "hovertemplate": "%{x}<br>%{y:$,.2f}<br>calls %{customdata[0]:,}<br>tokens %{customdata[1]:,}"
            "<extra></extra>",
        }
    ]
    return _figure(data, "Cost by operation", "Operation", "Cost (USD)")


def share_pie(rows, names: str, cost_key: str, title: str) -> Chart:
    data = [
        {
            "type": "pie",
            "labels": [getattr(r, names) for r in rows],
            "values": [num(getattr(r, cost_key)) for r in rows],
            "hole": 0.45,
        }
    ]
    return Chart({"data": data, "layout": {"title": {"text": title}, "height": 340, "margin": _MARGIN}})


def budget_burn(daily, start: date, end: date, budget: Decimal | None, projected: Decimal) -> Chart:
    """Cumulative cost of the month (`daily`: (day, cost), oldest first) against the budget, with the
    straight-line projection to month end."""
    per_day = dict(daily)
    running, xs, ys = Decimal(0), [], []
    last_data = max(per_day) if per_day else None
    d = start
    while last_data is not None and d <= min(end, last_data):
        running += per_day.get(d, Decimal(0))
        xs.append(d.isoformat())
        ys.append(float(running))
        d += timedelta(days=1)
    data = [
        {
            "type": "scatter",
            "x": xs,
            "y": ys,
            "mode": "lines+markers",
            "name": "Cost so far",
            "line": {"color": "#2563eb"},
        }
    ]
    if xs:
        data.append(
            {
                "type": "scatter",
                "x": [xs[-1], end.isoformat()],
                "y": [ys[-1], num(projected)],
                "mode": "lines",
                "name": "Projection",
                "line": {"dash": "dot", "color": "#9333ea"},
            }
        )
    if budget is not None:
        data.append(
            {
                "type": "scatter",
                "x": [start.isoformat(), end.isoformat()],
                "y": [num(budget)] * 2,
                "mode": "lines",
                "name": "Budget",
                "line": {"color": "#dc2626", "dash": "dash"},
            }
        )
    return _figure(data, "Month-to-date cost against budget", "Day (UTC)", "Cumulative cost (USD)")


def weekly_bars(weeks) -> Chart:
    labels = [w.week for w in weeks]
    data = [
        {
            "type": "bar",
            "x": labels,
            "y": [num(w.cost) for w in weeks],
            "name": "Week cost",
            "marker": {"color": "#0ea5e9"},
        },
        {
            "type": "scatter",
            "x": labels,
            "y": [num(w.avg_daily) for w in weeks],
            "name": "Average daily cost",
            "mode": "lines+markers",
            "line": {"color": "#f59e0b"},
        },
    ]
    return _figure(data, "Cost per ISO week", "ISO week", "Cost (USD)", xaxis={"type": "category"})


def trend_chart(points, metric: str) -> Chart:
    """One bar per period with its change; the period in progress hatched, lighter and labelled "so far" (a part
    of a period, so no change is drawn for it). Periods are labels ("Nov 2025", "Q4 2025"), not dates."""
    partial = [p.in_progress for p in points]
    text = [
        "so far" if part else "" if p.change_percentage is None else f"{p.change_percentage:+.1f}%"
        for p, part in zip(points, partial)
    ]
    data = [
        {
            "type": "bar",
            "x": [p.label for p in points],
            "y": [num(p.value) if metric == "cost" else p.value for p in points],
            "name": UNITS[metric],
            "text": text,
            "textposition": "outside",
            "marker": {
                "color": ["#bfdbfe" if part else "#2563eb" for part in partial],
                "line": {"color": "#2563eb", "width": 1},
                "pattern": {"shape": ["/" if part else "" for part in partial], "fgcolor": "#2563eb"},
            },
        }
    ]
    title = f"{UNITS[metric].split(' (')[0]} per period"
    if any(partial):
        title += " (hatched: in progress, so far)"
    return _figure(data, title, "Period", UNITS[metric], xaxis={"type": "category"})


def efficiency_scatter(models) -> Chart:
    """Priced models by speed and cost per 1M tokens; a bubble's area is its number of calls."""
    groups: dict[str, list] = {}
    for m in models:
        if m.metrics.cost_per_token is not None:
            groups.setdefault(m.provider, []).append(m)
    biggest = max((m.metrics.jobs_count for ms in groups.values() for m in ms), default=1) or 1
    data = [
        {
            "type": "scatter",
            "mode": "markers",
            "name": p,
            "x": [m.metrics.avg_execution_time for m in ms],
            "y": [float(m.metrics.cost_per_token * 1_000_000) for m in ms],
            "text": [m.model for m in ms],
            "customdata": [[m.efficiency_score] for m in ms],
            "hovertemplate": "%{text}<br>%{x:.2f} s<br>%{y:$,.2f} / 1M tokens<br>score %{customdata[0]}<extra></extra>",
            "marker": {
                "color": provider_color(p),
                "sizemode": "area",
                "sizeref": 2.0 * biggest / 40**2,
                "size": [m.metrics.jobs_count for m in ms],
            },
        }
        for p, ms in groups.items()
    ]
    return _figure(
        data,
        "Cost per 1M tokens against speed (bubble: calls)",
        "Average execution time (s)",
        "Cost per 1M tokens (USD)",
    )


def score_bars(models) -> Chart:
    data = _by_provider(models, lambda m: m.efficiency_score, lambda m: m.model, orientation="h")
    return _figure(
        data,
        "Efficiency score (0-10)",
        "Score (0-10)",
        "Model",
        height=max(300, 28 * len(models) + 120),
        xaxis={"range": [0, 10]},
        yaxis={"categoryorder": "total ascending"},
    )


def month_compare(current, previous, cur_label: str, prev_label: str) -> Chart:
    """Months are labels ("2025-11"), not dates."""
    data = [
        {
            "type": "bar",
            "x": [prev_label, cur_label],
            "y": [num(previous.cost), num(current.cost)],
            "marker": {"color": ["#94a3b8", "#2563eb"]},
        }
    ]
    return _figure(
        data, "Cost: previous month against month to date", "Month", "Cost (USD)", xaxis={"type": "category"}
    )
