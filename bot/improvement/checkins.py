"""Measuring an improvement, once per instant, and what follows from each measurement.

- Check: every 7 days after the change began (it entered Do), while it is in Do, Check or Act, its
  metric since the change began is measured against the baseline and posted in its thread, with an
  8-week chart marking when the change began. A late run measures the same window (it ends at the
  due instant) and posts only the latest week due, never a backlog.
- Act: a check-in that meets the target invites the owners to move to Control (once per change);
  when the target date passes without the target met, the owners and the team's managers are asked
  to adjust the plan or extend the date, with the figures.
- Control: at each revisit day (`improvements.revisits`, default 30, 60 and 90 days after it
  entered Control, also once closed) the metric since the previous revisit is posted again. When it is
  back inside the baseline's 95% interval (bot/improvement/measure.py `back_in_baseline`), a
  regression alert goes to the team channel and the owners, with a button to reopen it: once per
  slip. A slip lasts until a revisit finds the gain again.

Each measurement is claimed by its `improvement_measure` row (unique per improvement, kind and label),
inserted in the same transaction as everything it queues; a re-run, a restart or a second replica
finds the row and does nothing.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from bot.config import Workspace
from bot.improvement import checkin_messages as cim
from bot.improvement import notify
from bot.improvement.enums import Metric, Stage
from bot.improvement.links import linked_cases
from bot.improvement.measure import Comparison, back_in_baseline, meets, measure, weekly
from bot.improvement.service import baseline_of, day_end, load_view, owners, record, segment_of, theme_set
from bot.machinery.schedule import claim
from bot.people.roster import team_managers
from storage.db import session_scope
from storage.models import Improvement, ImprovementMeasure

log = logging.getLogger(__name__)

WEEK = timedelta(days=7)
CHART_WEEKS = 8
MEASURED = [s.value for s in Stage if s is not Stage.CANCELLED]


@dataclass(frozen=True)
class Due:
    kind: str      # check, revisit or target
    label: str     # unique per improvement and kind: the claim
    title: str
    since: datetime
    until: datetime


def _ts(at: datetime) -> int:
    return int(at.timestamp())


def due_measurements(imp: Improvement, ws: Workspace, now: datetime) -> list[Due]:
    """The measurements due for `imp` at `now` (claimed or not)."""
    stage = Stage(imp.stage)
    out: list[Due] = []
    start = imp.change_started_at
    if stage.changing and start is not None and now >= start + WEEK:
        k = int((now - start) / WEEK)
        out.append(Due("check", f"check:{_ts(start)}:{k}", f"Check-in {k}: week {k} since the change began",
                       start, start + k * WEEK))
    control = imp.control_started_at
    if stage in (Stage.CONTROL, Stage.CLOSED) and control is not None:
        days = ws.improvements.revisits
        passed = [d for d in days if control + timedelta(days=d) <= now]
        if passed:
            d = passed[-1]
            before = days[days.index(d) - 1] if days.index(d) else 0
            out.append(Due("revisit", f"revisit:{_ts(control)}:{d}", f"{d}-day revisit",
                           control + timedelta(days=before), control + timedelta(days=d)))
    if stage in (Stage.PLAN, Stage.DO, Stage.CHECK, Stage.ACT):
        end = day_end(imp.target_date, ws)
        if now >= end:
            out.append(Due("target", f"target:{imp.target_date.isoformat()}",
                           f"Target date ({imp.target_date.isoformat()})", start if start and start < end else end, end))
    return out


def read(session: Session, ws: Workspace, imp: Improvement, due: Due) -> cim.Reading:
    """The measurement's figures (a read; nothing is written)."""
    metric = Metric(imp.metric)
    after = measure(session, segment_of(imp), metric, due.since, due.until, themes=theme_set(ws))
    comp = Comparison(before=baseline_of(imp), after=after, min_responses=ws.improvements.min_responses)
    met = comp.enough and meets(metric, after.value, imp.target_value)
    regressed = due.kind == "revisit" and comp.enough and back_in_baseline(metric, after.value, imp.baseline_low,
                                                                           imp.baseline_high)
    cases = linked_cases(session, ws, imp, imp.change_started_at or due.since, due.until)
    return cim.Reading(kind=due.kind, title=due.title, since=due.since, until=due.until, comparison=comp, met=met,
                       cases=cases, regressed=regressed)


def chart(session: Session, ws: Workspace, imp: Improvement, until: datetime) -> bytes:
    """The metric over the 8 weeks to `until`, with a line where the change began (when it is in view)."""
    from bot.reporting.charts import Reference, Series, marked_trend_png

    metric = Metric(imp.metric)
    first = until - CHART_WEEKS * WEEK
    bounds = [(first + i * WEEK, first + (i + 1) * WEEK) for i in range(CHART_WEEKS)]
    values = [m.value for m in weekly(session, segment_of(imp), metric, bounds, themes=theme_set(ws))]
    mark = None
    if imp.change_started_at is not None and first <= imp.change_started_at < until:
        mark = (imp.change_started_at - first) / WEEK - 0.5
    refs = [Reference(imp.target_value, f"target {imp.target_value:g}", ":", "#2f855a")]
    if imp.baseline_value is not None:
        refs.insert(0, Reference(imp.baseline_value, f"baseline {imp.baseline_value:g}"))
    name = "Share" if metric is Metric.THEME_SHARE else metric.label
    series = Series(name, values, metric.low, 100.0, metric.unit, "#2b6cb0", 0 if metric is Metric.CSAT else 1)
    return marked_trend_png([(a.astimezone(ws.zone)).date() for a, _ in bounds], series, mark_at=mark,
                            mark_label="change began", references=refs,
                            title=f"Improvement #{imp.id}: {metric.label if metric is not Metric.THEME_SHARE else 'share of comments raising ' + (imp.theme or '')}, the last {CHART_WEEKS} weeks")


def _claimed(session: Session, imp_id: int, due: Due) -> bool:
    return session.exec(select(ImprovementMeasure.id).where(
        ImprovementMeasure.improvement_id == imp_id, ImprovementMeasure.kind == due.kind,
        ImprovementMeasure.label == due.label)).first() is not None


def _post(engine: Engine, ws: Workspace, imp_id: int, due: Due, reading: cim.Reading, png: bytes | None,
          now: datetime) -> bool:
    """Claim the measurement and queue everything it leads to, in one transaction; False if already done."""
    with session_scope(engine) as s:
        imp = s.get(Improvement, imp_id)
        if imp is None or due.label not in {d.label for d in due_measurements(imp, ws, now)}:
            return False  # it moved on since the figures were read
        c = reading.comparison
        iv = c.interval
        row = ImprovementMeasure(improvement_id=imp_id, kind=due.kind, label=due.label, at=now, since=due.since,
                                 until=due.until, n=c.after.n, hits=c.after.hits, detractors=c.after.detractors,
                                 value=c.after.value, change=c.change, change_low=iv.low if iv else None,
                                 change_high=iv.high if iv else None, enough=c.enough, met=reading.met,
                                 regressed=reading.regressed)
        try:
            with s.begin_nested():
                s.add(row)
        except IntegrityError:
            return False  # another run or replica got here first
        kind = {"check": "check_in", "revisit": "revisit", "target": "target_met" if reading.met else "target_missed"}
        record(s, imp, kind[due.kind], None, now, measure=row.id, value=c.after.value, n=c.after.n, change=c.change)
        view = load_view(s, ws, imp_id)
        notify.in_thread(s, ws, imp, f"measure:{row.id}", cim.reading_message(view, reading))
        if png is not None:
            image = cim.chart_image(view, base64.b64encode(png).decode("ascii"), due.until)
            notify.chart_in_thread(s, ws, imp, f"measure:{row.id}:chart",
                                   cim.Message(text=image.title, blocks=[image]))
        people = owners(s, imp_id)
        start = int(imp.change_started_at.timestamp()) if imp.change_started_at else 0
        if reading.met and due.kind in ("check", "target") and claim(s, f"improvement:{imp_id}:met:{start}"):
            notify.to_people(s, ws, people, f"improvement:{imp_id}:invite:{row.id}", cim.invite_message(view, reading), now)
        if due.kind == "target" and not reading.met:
            notify.to_people(s, ws, people + team_managers(s, imp.team), f"improvement:{imp_id}:missed:{row.id}",
                             cim.missed_message(view, reading), now)
        if due.kind == "revisit" and c.enough:
            if reading.regressed and not imp.slipping:
                imp.slipping = True
                record(s, imp, "regression", None, now, measure=row.id, value=c.after.value)
                alert = cim.regression_message(view, reading)
                notify.in_thread(s, ws, imp, f"regression:{row.id}", alert)
                notify.to_people(s, ws, people, f"improvement:{imp_id}:regression:{row.id}",
                                 alert.model_copy(update={"broadcast": False}), now)
            elif not reading.regressed:
                imp.slipping = False
            s.add(imp)
        notify.refresh_post(s, ws, imp, now)
    return True


def measurements(engine: Engine, ws: Workspace, now: datetime) -> int:
    """Post every measurement due at `now` not posted yet; one improvement's failure never stops the others."""
    with Session(engine) as s:
        imps = list(s.exec(select(Improvement).where(Improvement.stage.in_(MEASURED)).order_by(Improvement.id)))  # type: ignore[attr-defined]
    posted = 0
    for imp in imps:
        for due in due_measurements(imp, ws, now):
            try:
                # Read (and draw) before the writing transaction, so no write lock waits on matplotlib.
                with Session(engine.execution_options(cx_write=False)) as s:
                    if _claimed(s, imp.id, due):  # type: ignore[arg-type]
                        continue
                    reading = read(s, ws, imp, due)
                    png = chart(s, ws, imp, due.until) if due.kind != "target" else None
                posted += _post(engine, ws, imp.id, due, reading, png, now)  # type: ignore[arg-type]
            except Exception:
                log.exception("measuring improvement %s (%s) failed", imp.id, due.label)
    return posted
