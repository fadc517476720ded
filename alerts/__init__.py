"""The alerts worker (issue 9): evaluates alert rules on a cadence and notifies through apprise.

``python -m alerts run``. Modules: :mod:`alerts.conditions` (bulk evaluation per kind), :mod:`alerts.states`
(normal → pending → firing → resolved, persisted), :mod:`alerts.delivery` (outbox sender thread),
:mod:`alerts.messages` (notification text), :mod:`alerts.evaluator` (the cycle and loop). Imports ``db`` and
``settings`` only; connects as the alerts role (``settings.database_url_for("alerts")``).
"""
