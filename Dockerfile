# The esdb-orders project in a slim Python image; by default it runs the embedded
# EventStoreDB-compatible server (esdb_emulator, the `emulator/` distribution). Used by docker-compose.yml's
# `emulator` profile, and reusable for the `orders` and `projections` commands.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# Metadata first (README.md is optional in the context), then the packages.
COPY pyproject.toml README.md* ./
COPY emulator ./emulator
COPY orders ./orders
COPY projections ./projections
COPY upcasters ./upcasters
RUN pip install ./emulator . \
    && useradd --system --uid 10001 --home-dir /data --create-home esdb

USER esdb
WORKDIR /data
VOLUME ["/data"]
EXPOSE 2113

ENTRYPOINT ["esdb-emulator"]
# --insecure: no TLS and no authentication, which a non-loopback bind must ask for
# explicitly (development only; see esdb-emulator --help for --dev and --tls-cert).
CMD ["--db=/data/events.db", "--host=0.0.0.0", "--insecure", "--port=2113", "--advertise-host=localhost"]
