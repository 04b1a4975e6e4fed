# One image for every service of docker-compose.yml: api (gunicorn, the default command), worker
# (`celery -A celery_worker worker`), beat (`celery -A celery_worker beat`), migrate
# (`flask --app run db upgrade`) and createbucket (`python scripts/create_bucket.py`).
#
# BASE_IMAGE: the official Python image for real deployments (pin it by digest once pulled:
# `docker inspect --format '{{index .RepoDigests 0}}' python:3.11.13-slim-bookworm`). The smoke
# (scripts/compose_smoke.sh) builds on a local Debian bookworm image with Debian's python3.11
# instead (scripts/build_base_image.sh), since it cannot pull images. Both are Debian bookworm,
# with `python3` on PATH and apt. Builds with BuildKit (`DOCKER_BUILDKIT=1`, the default of
# `docker compose` v2); an optional build secret `ca` (a CA bundle) is given to pip when the
# package index is reached through a TLS-inspecting proxy.
ARG BASE_IMAGE=python:3.11.13-slim-bookworm
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    STORAGE_DIR=/var/lib/hcl \
    PORT=5000

# libgomp1: the OpenMP runtime that LightGBM's (and XGBoost's) shared library links. apt's
# lists and package caches are removed in the same layer (about 80 MB otherwise).
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin

COPY requirements.txt /tmp/requirements.txt
RUN --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi; \
    python3 -m venv "$VIRTUAL_ENV" \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# A non-root user owns only what it must write: STORAGE_DIR (local files, the beat schedule).
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/hcl hcl \
    && mkdir -p "$STORAGE_DIR" /app/instance \
    && chown hcl:hcl "$STORAGE_DIR" /app/instance
WORKDIR /app
COPY --chown=root:root . .
USER hcl

EXPOSE 5000
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health/ready' % os.environ.get('PORT', '5000'), timeout=4)"]
# WEB_CONCURRENCY sets gunicorn's worker processes (default 2; each holds up to 8 model bundles).
CMD ["sh", "-c", "exec gunicorn --bind 0.0.0.0:${PORT} --workers ${WEB_CONCURRENCY:-2} --timeout 300 --access-logfile - run:app"]
