# The API and worker image. PostgreSQL, Redis and SMTP are separate services (docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The locked dependency set first (requirements.lock, `make lock`): exactly these versions,
# in a layer that code changes reuse.
COPY requirements.lock /tmp/
RUN pip install --no-deps -r /tmp/requirements.lock

# The package itself, built as a wheel (migrations included) without touching the lock.
COPY pyproject.toml README.md /tmp/src/
COPY app /tmp/src/app
COPY schema /tmp/src/schema
COPY resolvers /tmp/src/resolvers
COPY domain /tmp/src/domain
COPY workers /tmp/src/workers
COPY migrations /tmp/src/migrations
RUN pip install --no-deps /tmp/src && pip check && rm -rf /tmp/src /tmp/requirements.lock

# The attachments folder exists, owned by the app user, before a volume is mounted on it:
# a new named volume takes its owner from here.
RUN useradd --system --home /srv/clientdesk clientdesk \
    && mkdir -p /srv/clientdesk/var/attachments \
    && chown -R clientdesk:clientdesk /srv/clientdesk
WORKDIR /srv/clientdesk
USER clientdesk

# Listen on every interface of the container (the default, 127.0.0.1, is unreachable from
# outside it); clientdesk.env may set another PORT, which the health check follows.
ENV HOST=0.0.0.0 PORT=8000
EXPOSE 8000
# Healthy while the API answers /readyz (its database and Redis reachable). The worker's
# container replaces this with `clientdesk worker --check` (docker-compose.yml).
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('PORT', '8000'), timeout=4)"]
CMD ["clientdesk", "serve"]
