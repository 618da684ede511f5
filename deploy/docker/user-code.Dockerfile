# syntax=docker/dockerfile:1
# The ml_platform code location: the gRPC code server, the run and step pods, and (for our run
# coordinator) the webserver and daemon. Build from the repo root:
#   docker build -f deploy/docker/user-code.Dockerfile -t ml-platform/user-code:0.1.0 .
FROM python:3.11.16-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/opt/dagster/app \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    DAGSTER_DISABLE_TELEMETRY=1 \
    BENTOML_DO_NOT_TRACK=True \
    MLFLOW_ENABLE_TELEMETRY=false

RUN groupadd --system --gid 10001 dagster \
 && useradd --system --uid 10001 --gid dagster --home-dir /opt/dagster --shell /usr/sbin/nologin dagster

WORKDIR /opt/dagster/app
# Dependencies first, so code changes rebuild only the last layers: only the locked bytes (every pin
# hashed, the lock complete: --no-deps, and `pip check` proves nothing is missing).
COPY requirements.lock deploy/docker/requirements-k8s.txt ./
RUN pip install --no-deps --require-hashes -r requirements.lock -r requirements-k8s.txt && pip check

# The package is used from source (PYTHONPATH): the `bento` asset builds the Bento from serving/ beside it.
COPY workspace.yaml pyproject.toml ./
COPY datasets ./datasets
COPY serving ./serving
COPY ml_platform ./ml_platform
RUN mkdir -p "$DAGSTER_HOME" && chown dagster:dagster "$DAGSTER_HOME"

USER 10001:10001
EXPOSE 3030
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
  CMD ["dagster", "api", "grpc-health-check", "-p", "3030"]
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "3030", "-m", "ml_platform.definitions"]
