"""One evaluation cycle (:meth:`Evaluator.run_cycle`) and the loop that repeats it every
``ALPHAPULSE_ALERT_EVAL_SECONDS`` beside the delivery thread (:meth:`Evaluator.run`).

A cycle reads the enabled rules, evaluates every kind in bulk (:mod:`alerts.conditions`), steps each
(rule, subject) through the state machine (:mod:`alerts.states`) and commits states, events and queued deliveries in
one transaction. All state is in the database: a new :class:`Evaluator` on the same database continues where the
last one stopped.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from alerts import conditions, states
from alerts.delivery import Sender
from alerts.messages import message
from db.alerts import Rule, list_rules
from settings import Settings
from settings.alerts import alert_channels, default_channels

log = logging.getLogger(__name__)

#: How recent (by observation time) an anomaly must be for ``anomaly_z`` rules.
ANOMALY_RECENT = timedelta(minutes=10)


@dataclass(frozen=True)
class CycleResult:
    """What a cycle did: ``rules`` evaluated, ``subjects`` read, ``events`` recorded, ``queued`` deliveries,
    ``seconds`` it took (wall clock)."""

    rules: int
    subjects: int
    events: int
    queued: int
    seconds: float


class Evaluator:
    """Evaluates the rules of ``engine``'s database (connected as the alerts role) under ``settings``
    (channels, cadence, dashboard URL). Raises ``settings.SettingsError`` for malformed channel settings."""

    def __init__(self, engine: Engine, settings: Settings):
        self.engine, self.settings = engine, settings
        self.channels = alert_channels(settings)
        self.defaults = default_channels(settings)
        self.cadence = timedelta(seconds=settings.alert_eval_seconds)

    def run_cycle(self, now: datetime | None = None) -> CycleResult:
        """Evaluate every enabled rule at ``now`` (aware UTC; default the clock) and commit the outcome.
        ``anomaly_z`` rules see anomalies observed within :data:`ANOMALY_RECENT` (at least two cadences): an anomaly
        is stored a minute or more after its observation time (a candle is judged once closed), so "since the
        previous cycle" by observation time would miss it."""
        now = now or datetime.now(UTC)
        started = time.perf_counter()
        anomaly_since = now - max(2 * self.cadence, ANOMALY_RECENT)
        with self.engine.begin() as conn:
            rules = {r.id: r for r in list_rules(conn, enabled_only=True)}
            readings = conditions.evaluate(conn, rules.values(), now, anomaly_since)
            stored = states.load_states(conn)
            changed, events = {}, []
            for rule_id, subjects in readings.items():
                for subject, reading in subjects.items():
                    old = stored.get((rule_id, subject))
                    new, event = states.step(rules[rule_id], subject, reading, old, now)
                    if old is not None or new.state != "normal":
                        changed[(rule_id, subject)] = (new, reading.value)
                    if event:
                        events.append((event, reading))
            texts = {id(e): message(e.notify, rules[e.rule_id], e.subject, r, self.settings.effective_dashboard_url)
                     if e.notify else f"{e.from_state} → {e.to_state}: {rules[e.rule_id].name}" for e, r in events}
            queued = states.save(conn, changed, [e for e, _ in events], lambda e: texts[id(e)],
                                 lambda e: self._channels_of(rules[e.rule_id], now), now)
            states.drop_orphans(conn, list(rules))
        subjects = sum(len(s) for s in readings.values())
        return CycleResult(len(rules), subjects, len(events), queued, time.perf_counter() - started)

    def _channels_of(self, rule: Rule, now: datetime) -> tuple[str, ...]:
        if rule.muted_until is not None and rule.muted_until > now:
            return ()
        return rule.channels if rule.channels is not None else self.defaults

    def run(self, stop: threading.Event) -> None:
        """Cycle every cadence until ``stop`` is set, with the delivery thread beside; a failed cycle is logged and
        the next one runs on time."""
        sender = Sender(self.engine, self.channels)
        sender.start()
        log.info("alerts worker: every %.0f s, channels %s", self.cadence.total_seconds(),
                 ", ".join(self.channels) or "none (in-app only)")
        while not stop.is_set():
            began = time.monotonic()
            try:
                result = self.run_cycle()
                if result.queued:
                    sender.wake()
                log.info("cycle: %d rules, %d subjects, %d events, %d queued in %.3f s", result.rules,
                         result.subjects, result.events, result.queued, result.seconds)
            except Exception:  # noqa: BLE001 - the database may be away; the next cycle retries
                log.exception("alerts cycle failed")
            stop.wait(max(0.0, self.cadence.total_seconds() - (time.monotonic() - began)))
        sender.stop()
        sender.join(timeout=10)
