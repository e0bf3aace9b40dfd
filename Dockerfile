# The API and worker image. PostgreSQL, Redis and SMTP are separate services (docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /srv/clientdesk

COPY pyproject.toml README.md ./
COPY app ./app
COPY schema ./schema
COPY resolvers ./resolvers
COPY domain ./domain
COPY workers ./workers
COPY migrations ./migrations
RUN pip install . && useradd --system --home /srv/clientdesk clientdesk \
    && mkdir -p /srv/clientdesk/var && chown clientdesk /srv/clientdesk/var
USER clientdesk

EXPOSE 8000
CMD ["clientdesk", "serve"]
