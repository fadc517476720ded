# One image for the AlphaPulse app (gunicorn) and the ingest workers; compose.yaml runs it with TimescaleDB and
# Redis. Build: docker build -t alphapulse . (not built on the development machine: it has no Docker engine).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ALPHAPULSE_VAR_DIR=/var/lib/alphapulse \
    ALPHAPULSE_ACCESS_LOG=-

WORKDIR /srv/alphapulse
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY settings/ settings/
COPY db/ db/
COPY ingest/ ingest/
COPY app/ app/
COPY assets/ assets/
COPY migrations/ migrations/
COPY data/ data/
COPY alembic.ini gunicorn.conf.py ./

# Never root at run time; the var directory holds logs only (database and Redis are other services).
RUN useradd --system --uid 10001 --home-dir /var/lib/alphapulse alphapulse \
    && mkdir -p /var/lib/alphapulse && chown alphapulse /var/lib/alphapulse
USER alphapulse

EXPOSE 8050
CMD ["gunicorn", "-c", "gunicorn.conf.py", "app.wsgi:app"]
