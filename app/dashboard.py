"""The one Dash app of a process, mounted on the Flask server of :func:`app.create_app`.

:func:`build_dash` creates it with Dash pages (``app/pages/``: overview ``/``, markets ``/markets``, anomalies
``/anomalies``, alerts ``/alerts``, system ``/system``, admin ``/admin``), the assets of the repository's
``assets/`` folder (CSS and JavaScript, served locally:
Bootstrap 5.3.6 CSS is vendored under ``assets/vendor/`` and plotly.js is served from the installed ``plotly``
package at :data:`PLOTLY_JS`, so the dashboard works without internet access, and browsers cache both for a year;
``assets/plotly_loader.js`` loads the bundle when the first ``dcc.Graph`` asks for it), a navigation bar
whose links carry the current view's query string, and the ``view-query`` store the pages write.

Callbacks read the database through :func:`read_connection`: the engine of the settings the Flask app was
built with (``server.config["ALPHAPULSE_SETTINGS"]``), one engine per process (``db.engine.get_engine``).
Nothing here holds mutable state: every request carries its view in its inputs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dash
import dash_bootstrap_components as dbc
import flask
import plotly
from dash import dcc, html
from plotly.offline import get_plotlyjs_version
from sqlalchemy import Connection

from app import callback_guard, dash_json
from app.auth.menu import user_menu
from app.banner import banner_slot, register_banner_callback
from app.controls import register_nav_callback
from app.security import allow_inline_scripts
from app.theme import register_theme_callback, theme_store, theme_toggle
from db.engine import reading
from settings import PROJECT_ROOT, Settings, get_settings

#: Where Dash finds the pages and the static files (absolute: the working directory may be anywhere).
PAGES_FOLDER = PROJECT_ROOT / "app" / "pages"
ASSETS_FOLDER = PROJECT_ROOT / "assets"

#: Bootstrap served from ``assets/vendor`` (loaded first, before our CSS; ignored by Dash's auto-loading).
BOOTSTRAP_CSS = "/assets/vendor/bootstrap-5.3.6.min.css"

#: URL prefix of the vendored files, and how long browsers keep them without asking again: every name carries
#: its version, so a new version is a new URL. Without it each page load downloaded (and the server compressed)
#: them again: Flask serves assets with ``no-cache`` and Flask-Compress's ``:zstd`` ETag never matches on
#: revalidation.
VENDOR_PREFIX = "/assets/vendor/"
VENDOR_CACHE_CONTROL = "public, max-age=31536000, immutable"
#: The plotly.js bundle the installed ``plotly`` package was built for (its ``package_data/plotly.min.js``, the full
#: 4.8 MB bundle: the Markets heatmap needs ``heatmap``, the prices ``candlestick``, and no partial bundle of
#: plotly.js holds both), served under this versioned path; ``assets/plotly_loader.js`` names the same path.
PLOTLY_JS = f"{VENDOR_PREFIX}plotly-{get_plotlyjs_version()}.min.js"
_PLOTLY_FILE = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"

#: Key under which the Flask app's config holds the :class:`~settings.Settings` the dashboard reads.
SETTINGS_KEY = "ALPHAPULSE_SETTINGS"

#: Navigation: (path, label), in menu order.
NAV = (("/", "Overview"), ("/markets", "Markets"), ("/anomalies", "Anomalies"), ("/alerts", "Alerts"),
       ("/system", "System"))
#: Ids of the Alerts link's firing-count badge and of the tick that refreshes it (``app.pages.alerts``).
ALERTS_BADGE_ID, ALERTS_TICK_ID = "nav-alerts-badge", "nav-alerts-tick"


def current_settings() -> Settings:
    """The settings of the Flask app serving the current request (those :func:`build_dash` was given);
    the process settings outside a request."""
    if flask.has_app_context():
        return flask.current_app.config.get(SETTINGS_KEY) or get_settings()
    return get_settings()


@contextmanager
def read_connection() -> Iterator[Connection]:
    """A database connection for one callback, as the app's role, which may read market data and cannot write it
    (``db.roles``): ``Settings.effective_read_url`` (the replica of ``DATABASE_READ_URL`` when set), in autocommit
    (``db.engine.reading``: no ``BEGIN``/``ROLLBACK`` round trips around the statements).

    Raises SQLAlchemy's ``OperationalError`` when the database is unreachable; pages turn that into a message.
    """
    with reading(current_settings().effective_read_url) as conn:
        yield conn


def _navbar() -> dbc.Navbar:
    def label_of(path: str, label: str):
        if path != "/alerts":
            return label
        badge = dbc.Badge("", id=ALERTS_BADGE_ID, color="danger", pill=True, className="ms-1 ap-alerts-badge",
                          style={"display": "none"}, title="alerts firing now")  # fmt: skip
        return [label, badge]

    links = [
        dbc.NavItem(dbc.NavLink(label_of(path, label), id={"type": "nav-link", "page": path}, href=path,
                                active="exact"))
        for path, label in NAV
    ]
    return dbc.Navbar(
        dbc.Container(
            [
                dbc.NavbarBrand(["AlphaPulse", html.Small(" perpetual futures", className="ap-brand-sub")]),
                dbc.Nav(links, navbar=True, className="ap-nav"),
                theme_toggle(),
                user_menu(),
            ],
            fluid=True,
        ),
        color="dark",
        dark=True,
        className="ap-navbar",
    )


def _layout() -> html.Div:
    return html.Div(
        [
            _navbar(),
            dbc.Container(banner_slot(), fluid=True, className="ap-banner"),
            dbc.Container(dash.page_container, fluid=True, className="ap-main"),
            dcc.Store(id="view-query", storage_type="memory"),
            theme_store(),
            dcc.Interval(id=ALERTS_TICK_ID, interval=int(current_settings().alert_eval_seconds * 1000)),
        ]
    )


def build_dash(server: flask.Flask, settings: Settings | None = None) -> dash.Dash:
    """Create the Dash app on ``server`` (a Flask app) and return it; pages are served from ``/``.

    ``settings`` (default: the process settings) are stored in ``server.config[SETTINGS_KEY]`` unless the
    Flask app already holds some there, and select the database the pages read. Raises whatever Dash raises
    for a broken page module (e.g. a duplicate component id), at build time rather than at request time.
    """
    server.config.setdefault(SETTINGS_KEY, settings or get_settings())
    dash_json.install()  # Dash's responses written by orjson in one pass (app.dash_json)
    app = dash.Dash(
        __name__,
        server=server,
        use_pages=True,
        pages_folder=str(PAGES_FOLDER),
        assets_folder=str(ASSETS_FOLDER),
        assets_path_ignore=["vendor"],
        external_stylesheets=[BOOTSTRAP_CSS],
        url_base_pathname="/",
        title="AlphaPulse",
        update_title=None,
        suppress_callback_exceptions=True,
        meta_tags=[{"name": "viewport", "content": "width=device-width, initial-scale=1"}],
    )
    app.layout = _layout
    server.add_url_rule(PLOTLY_JS, "plotly_js", lambda: flask.send_file(_PLOTLY_FILE, mimetype="text/javascript"))
    server.after_request(_cache_vendor_files)
    register_nav_callback()
    register_banner_callback()
    register_theme_callback()
    _finish_setup(server, app)
    allow_inline_scripts(server, app.csp_hashes)  # Dash's inline scripts pass the content security policy
    callback_guard.install(server, app)
    return app


def _cache_vendor_files(response: flask.Response) -> flask.Response:
    """Let browsers keep a successful response under ``VENDOR_PREFIX`` for a year (``VENDOR_CACHE_CONTROL``)."""
    if response.status_code == 200 and flask.request.path.startswith(VENDOR_PREFIX):
        response.headers["Cache-Control"] = VENDOR_CACHE_CONTROL
    return response


def _finish_setup(server: flask.Flask, app: dash.Dash) -> None:
    """Run Dash's one-time server set-up now, in this thread, instead of on the first request.

    Dash does it lazily in a ``before_request`` hook: it registers the JavaScript paths it will serve and takes
    over the callbacks that page modules registered with ``dash.callback``. In a gthread worker the first page's
    parallel asset requests raced that set-up (measured: HTTP 500 "dash is not a registered library", the page
    stuck at "Loading..."), and an app built but never requested left its callbacks in Dash's module-level lists
    for the next app of the process. Calls Dash's private ``Dash._setup_server`` (dash 4.4.1; idempotent, the
    hook returns at once afterwards) inside a test request context, so Flask does not count it as a request and
    ``app.run(debug=True)`` may still add its error handlers.
    """
    with server.test_request_context("/"):
        app._setup_server()
