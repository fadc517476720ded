"""Alert state machine, persisted in ``alert_states`` with every transition in ``alert_events`` and its
notifications queued in ``alert_deliveries`` (an outbox), all in the caller's transaction: a restart continues
from the stored states and neither re-sends nor forgets a firing alert.

Per (rule, subject), at each evaluation: the condition holds → ``normal``/``pending`` count up, and at
``pending_evaluations`` consecutive holds the state becomes ``firing`` (notified); while ``firing`` a notification
repeats every ``repeat_minutes`` (``None``: never). The condition stops holding → ``firing`` is ``resolved``
(notified) and the state returns to ``normal``; ``pending`` returns to ``normal`` silently. A subject without a
reading (no recent data) keeps its state. Nothing is queued while the rule is muted (``muted_until`` > now).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, text

from alerts.conditions import Reading
from db.alerts import Rule


@dataclass
class State:
    """A stored ``alert_states`` row: ``state`` (normal|pending|firing), ``pending_count`` (consecutive holds),
    ``since`` (UTC, entered the state), ``last_notified_at`` (UTC or ``None``)."""

    state: str
    pending_count: int
    since: datetime
    last_notified_at: datetime | None


@dataclass(frozen=True)
class Event:
    """A transition to record: ``from_state`` → ``to_state``; ``notify`` is ``firing``/``repeat``/``resolved`` when
    people are told (``None``: recorded only)."""

    rule_id: int
    subject: str
    from_state: str
    to_state: str
    value: float
    notify: str | None


def load_states(conn: Connection) -> dict[tuple[int, str], State]:
    """Every stored state, keyed by ``(rule_id, subject)``."""
    rows = conn.execute(text("SELECT rule_id, subject, state, pending_count, since, last_notified_at "
                             "FROM alert_states"))
    return {(r.rule_id, r.subject): State(r.state, r.pending_count, r.since, r.last_notified_at) for r in rows}


def step(rule: Rule, subject: str, reading: Reading, state: State | None, now: datetime) -> tuple[State, Event | None]:
    """The next state of ``rule`` on ``subject`` after ``reading`` at ``now``, and the transition to record.
    ``last_notified_at`` becomes ``now`` on firing and on each repeat (muted too: a mute skips, not defers)."""
    state = state or State("normal", 0, now, None)

    def ev(to: str, notify: str | None = None) -> Event:
        return Event(rule.id, subject, state.state, to, reading.value, notify)

    if reading.holds:
        if state.state == "firing":
            due = rule.repeat_minutes and state.last_notified_at and \
                now - state.last_notified_at >= timedelta(minutes=rule.repeat_minutes)
            return (State("firing", state.pending_count, state.since, now), ev("firing", "repeat")) if due \
                else (state, None)
        count = state.pending_count + 1
        if count >= rule.pending_evaluations:
            return State("firing", count, now, now), ev("firing", "firing")
        moved = state.state != "pending"
        return State("pending", count, state.since if not moved else now, None), (ev("pending") if moved else None)
    if state.state == "firing":
        return State("normal", 0, now, None), ev("resolved", "resolved")
    if state.state == "pending":
        return State("normal", 0, now, None), ev("normal")
    return state, None


def save(conn: Connection, changed: dict[tuple[int, str], tuple[State, float]], events: Sequence[Event],
         messages: Callable[[Event], str], channels: Callable[[Event], Sequence[str]], now: datetime) -> int:
    """Persist ``changed`` states (``(state, last value)``; ``normal`` rows are deleted), insert ``events`` with
    their ``messages`` and queue one delivery per channel of each notified event (``channels`` returns none while
    the rule is muted). Returns the number of deliveries queued."""
    normal = [{"r": k[0], "s": k[1]} for k, (st, _) in changed.items() if st.state == "normal"]
    live = [{"r": k[0], "s": k[1], "st": st.state, "c": st.pending_count, "since": st.since, "v": v,
             "n": st.last_notified_at, "now": now} for k, (st, v) in changed.items() if st.state != "normal"]
    if normal:
        conn.execute(text("DELETE FROM alert_states WHERE rule_id = :r AND subject = :s"), normal)
    if live:
        conn.execute(text("""
            INSERT INTO alert_states (rule_id, subject, state, pending_count, since, last_value, last_notified_at,
                                      updated_at) VALUES (:r, :s, :st, :c, :since, :v, :n, :now)
            ON CONFLICT (rule_id, subject) DO UPDATE SET state = EXCLUDED.state,
              pending_count = EXCLUDED.pending_count, since = EXCLUDED.since, last_value = EXCLUDED.last_value,
              last_notified_at = EXCLUDED.last_notified_at, updated_at = EXCLUDED.updated_at"""), live)
    queued = 0
    for event in events:
        event_id = conn.execute(text(
            "INSERT INTO alert_events (rule_id, subject, time, from_state, to_state, value, message) "
            "VALUES (:r, :s, :t, :f, :to, :v, :m) RETURNING id"),
            {"r": event.rule_id, "s": event.subject, "t": now, "f": event.from_state, "to": event.to_state,
             "v": event.value, "m": messages(event)}).scalar_one()
        names = channels(event) if event.notify else ()
        if names:
            conn.execute(text("INSERT INTO alert_deliveries (event_id, channel, next_attempt_at) "
                              "VALUES (:e, :c, :t)"), [{"e": event_id, "c": c, "t": now} for c in names])
            queued += len(names)
    return queued


def drop_orphans(conn: Connection, rule_ids: Sequence[int]) -> int:
    """Delete the states of rules not in ``rule_ids`` (deleted or disabled rules); the number deleted."""
    return conn.execute(text("DELETE FROM alert_states WHERE rule_id <> ALL(CAST(:ids AS bigint[]))"),
                        {"ids": list(rule_ids)}).rowcount
