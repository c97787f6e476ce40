# One image for the engine (Kamailio + KEMI) and the admin plane; the command picks the role:
#   docker run IMAGE kamailio | admin | worker | akira <subcommand> ...
# PostgreSQL and Redis are external: set AKIRA_DATABASE_URL and AKIRA_REDIS_URL.
FROM debian:12-slim

RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        kamailio kamailio-python3-modules kamailio-redis-modules python3 python3-venv sip-tester \
        postgresql-client redis-tools procps ca-certificates \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/akira
COPY pyproject.toml README.md ./
COPY kemi ./kemi
COPY admin ./admin
COPY sql ./sql
COPY kamailio-cfg ./kamailio-cfg
COPY scripts ./scripts
COPY tests/e2e/scenarios ./tests/e2e/scenarios

# Debian's python3 is the interpreter Kamailio embeds: build the venv from it (docs/decisions/0000).
RUN /usr/bin/python3 -m venv /opt/akira/.venv \
    && /opt/akira/.venv/bin/pip install --no-cache-dir --upgrade pip \
    && /opt/akira/.venv/bin/pip install --no-cache-dir -e /opt/akira

ENV PATH=/opt/akira/.venv/bin:$PATH \
    AKIRA_RUN_DIR=/run/akira \
    AKIRA_SPOOL_DIR=/var/spool/akira \
    AKIRA_SNAPSHOT_DIR=/var/lib/akira/snapshot \
    AKIRA_SIP_LISTEN=udp:0.0.0.0:5060 \
    AKIRA_HTTP_HOST=0.0.0.0

EXPOSE 5060/udp 8000/tcp
VOLUME ["/var/spool/akira", "/var/lib/akira/snapshot"]
ENTRYPOINT ["/opt/akira/scripts/docker-entrypoint.sh"]
CMD ["admin"]
