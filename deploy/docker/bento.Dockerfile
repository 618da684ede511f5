# syntax=docker/dockerfile:1
# The Bento as an image, without `bentoml containerize` (which needs a Docker daemon at build time).
# The build context is an exported Bento, models included; its bento.yaml names the model it was built
# for (label `model_tag`), which the service serves with no setting (serving/settings.py):
#   make export-bento     # the champion's Bento, unpacked into build/bento
#   docker build -f deploy/docker/bento.Dockerfile -t ml-platform/bento:0.1.0 build/bento
FROM python:3.11.16-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    BENTO_PATH=/home/bentoml/bento \
    BENTOML_HOME=/tmp/bentoml \
    BENTOML_DO_NOT_TRACK=True

RUN groupadd --system --gid 10002 bentoml \
 && useradd --system --uid 10002 --gid bentoml --create-home --home-dir /home/bentoml --shell /usr/sbin/nologin bentoml

WORKDIR /home/bentoml/bento
# The Bento's full lock, every pin hashed: serving/requirements.txt, which `bentoml build` copies into
# src/ as it is (env/python/requirements.txt is BentoML's rewrite of it, with an unhashed bentoml line).
COPY src/serving/requirements.txt ./src/serving/requirements.txt
RUN pip install --no-deps --require-hashes -r src/serving/requirements.txt && pip check
# Read-only at run time: BENTOML_HOME (/tmp) is the only place BentoML writes.
COPY . .

USER 10002:10002
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:3000/livez', timeout=4)"]
CMD ["bentoml", "serve", "/home/bentoml/bento", "--host", "0.0.0.0", "--port", "3000"]
