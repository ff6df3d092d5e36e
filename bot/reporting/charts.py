"""Charts as PNG bytes, drawn off-screen (Agg) with no display and no pyplot global state."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

# About 900 x 450 pixels: readable in a chat thread, small enough to upload in a moment.
WIDTH_IN, HEIGHT_IN, DPI = 9.0, 4.5, 100


@dataclass(frozen=True)
class Series:
    """One score over the weeks; None is a week with no answers (drawn as a gap, never as zero)."""

    name: str
    values: Sequence[float | int | None]
    low: float
    high: float
    unit: str = ""
    color: str = "#1f77b4"
    decimals: int = 1

    def label(self, value: float | int) -> str:
        return f"{value:.{self.decimals}f}{self.unit}"


def trend_png(weeks: Sequence[date], series: Sequence[Series], *, title: str) -> bytes:
    """Small multiples: one panel per series, weeks along the bottom; returns PNG bytes."""
    # Imported here: matplotlib is only needed when a chart is drawn, not on every command.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(series), squeeze=False)[0]
    xs = list(range(len(weeks)))
    labels = [f"{d.day} {d:%b}" for d in weeks]
    for ax, s in zip(axes, series, strict=True):
        ys = [math.nan if v is None else float(v) for v in s.values]
        ax.plot(xs, ys, color=s.color, linewidth=2, marker="o", markersize=5)
        for x, y in zip(xs, ys, strict=True):
            if not math.isnan(y):
                ax.annotate(s.label(y), (x, y), textcoords="offset points", xytext=(0, 7), ha="center",
                            fontsize=7, color="#333333")
        if s.low < 0 < s.high:
            ax.axhline(0, color="#999999", linewidth=0.8)
        margin = (s.high - s.low) * 0.08
        ax.set_ylim(s.low - margin, s.high + margin)
        ax.set_xlim(-0.5, len(weeks) - 0.5)
        latest = s.values[-1] if s.values else None
        heading = s.name if latest is None else f"{s.name}: {s.label(latest)}"
        ax.set_title(heading, fontsize=11, fontweight="bold")
        ax.set_xticks(xs)
        ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=7)
        ax.tick_params(axis="y", labelsize=7)
        ax.grid(axis="y", color="#e5e5e5", linewidth=0.6)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        if all(v is None for v in s.values):
            ax.text(0.5, 0.5, "no answers", transform=ax.transAxes, ha="center", va="center",
                    fontsize=9, color="#777777")
    # Team names are text, never maths: `$…$` would be read as mathtext, and bad mathtext raises.
    fig.suptitle(title, fontsize=11, parse_math=False)
    fig.text(0.5, 0.01, "Week starting · a gap is a week with no answers", ha="center", fontsize=7,
             color="#666666")
    # Fixed margins rather than tight_layout, which costs more than drawing the chart.
    fig.subplots_adjust(left=0.06, right=0.98, top=0.82, bottom=0.2, wspace=0.28)
    buf = io.BytesIO()
    # No timestamp or software tag: the same figures give the same bytes.
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


@dataclass(frozen=True)
class Reference:
    """A horizontal line across a chart (a baseline, a target)."""

    value: float
    label: str
    style: str = "--"
    color: str = "#777777"


def marked_trend_png(weeks: Sequence[date], series: Series, *, mark_at: float | None, mark_label: str,
                     references: Sequence[Reference] = (), title: str) -> bytes:
    """One score over the weeks with a vertical line where something began (`mark_at`, in week
    positions: 0 is the first week, 2.5 halfway through the third) and reference lines; PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    xs = list(range(len(weeks)))
    ys = [math.nan if v is None else float(v) for v in series.values]
    ax.plot(xs, ys, color=series.color, linewidth=2, marker="o", markersize=5, label=series.name)
    for x, y in zip(xs, ys, strict=True):
        if not math.isnan(y):
            ax.annotate(series.label(y), (x, y), textcoords="offset points", xytext=(0, 7), ha="center",
                        fontsize=8, color="#333333")
    for ref in references:
        ax.axhline(ref.value, color=ref.color, linestyle=ref.style, linewidth=1)
        ax.annotate(ref.label, (-0.5, ref.value), textcoords="offset points", xytext=(3, 3),
                    ha="left", fontsize=7, color=ref.color, annotation_clip=False)
    if mark_at is not None:
        ax.axvline(mark_at, color="#c53030", linewidth=1.2)
        ax.annotate(mark_label, (mark_at, 1.0), xycoords=("data", "axes fraction"), textcoords="offset points",
                    xytext=(3, -12), fontsize=8, color="#c53030")
    # Zoomed to the figures (a change of a few points is what the chart is for), within the scale.
    seen = [y for y in ys if not math.isnan(y)] + [r.value for r in references]
    low = max(series.low, min(seen) - 10) if seen else series.low
    high = min(series.high, max(seen) + 10) if seen else series.high
    margin = (high - low) * 0.08
    ax.set_ylim(low - margin, high + margin)
    ax.set_xlim(-0.5, len(weeks) - 0.5)
    ax.set_xticks(xs)
    ax.set_xticklabels([f"{d.day} {d:%b}" for d in weeks], rotation=45, ha="right", fontsize=8)
    ax.tick_params(axis="y", labelsize=8)
    ax.grid(axis="y", color="#e5e5e5", linewidth=0.6)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if all(v is None for v in series.values):
        ax.text(0.5, 0.5, "no answers", transform=ax.transAxes, ha="center", va="center", fontsize=9, color="#777777")
    fig.suptitle(title, fontsize=11, parse_math=False)
    fig.text(0.5, 0.01, "Week starting · a gap is a week with no answers", ha="center", fontsize=7, color="#666666")
    fig.subplots_adjust(left=0.07, right=0.98, top=0.86, bottom=0.2)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()
