"""WSGI entry point for gunicorn (``gunicorn -c gunicorn.conf.py app.wsgi:app``): one app per worker process."""

from app import create_app

app = create_app()
