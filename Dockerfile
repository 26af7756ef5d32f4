# Targets (see README "Run with Docker"):
#   cpu   (default) serving image: onnxruntime on the CPU, no torch, no compilers
#   cuda  serving image: onnxruntime-gpu + the CUDA 13 / cuDNN 9 runtime as pip wheels
#   train torch + the `dcgan` command, for `dcgan train` on a GPU host (train.lock)
#
#   docker build -t dcgan-serve:cpu .
#   docker build --target cuda -t dcgan-serve:cuda .
#   docker build --target train -t dcgan-train .
#
# The serving images install only the hash-locked wheels of requirements/serve-*.lock
# (regenerate them with the pip-compile lines at their top) and copy contract/, service/ and models/.

ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

# ---- common base: a virtualenv on PATH, no bytecode or pip caches in layers --------------
FROM ${PYTHON_IMAGE} AS python-base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
WORKDIR /app

# ---- dependency stages: wheels only (--only-binary), so no compiler is ever needed, and
# a venv without pip: the base image's pip installs into it and stays out of the copy ----
FROM python-base AS deps-cpu
COPY requirements/serve-cpu.lock /tmp/serve.lock
RUN python -m venv --without-pip /opt/venv \
    && pip --python /opt/venv/bin/python install \
        --require-hashes --no-deps --only-binary=:all: -r /tmp/serve.lock

FROM python-base AS deps-cuda
COPY requirements/serve-gpu.lock /tmp/serve.lock
RUN python -m venv --without-pip /opt/venv \
    && pip --python /opt/venv/bin/python install \
        --require-hashes --no-deps --only-binary=:all: -r /tmp/serve.lock

# ---- what both serving images share --------------------------------------------------------
FROM python-base AS serve-base
# a fixed uid so a read-only models mount only needs to be world-readable; a home, because
# onnxruntime keeps a small state file there
RUN groupadd --system --gid 10001 dcgan \
    && useradd --system --uid 10001 --gid dcgan --create-home --shell /usr/sbin/nologin dcgan
ENV DCGAN_HOST=0.0.0.0 \
    DCGAN_PORT=8000 \
    DCGAN_MODELS_DIR=/app/models
EXPOSE 8000
# the slim image has no curl: the healthcheck is a few lines of the service's own Python
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-m", "service.healthcheck"]
USER 10001:10001
CMD ["python", "-m", "service"]

# ---- training image: torch (the CUDA build PyPI serves for Linux) + the dcgan command ----
FROM python-base AS train
COPY requirements/train.lock /tmp/train.lock
RUN python -m venv /opt/venv \
    && pip install --require-hashes --no-deps --only-binary=:all: -r /tmp/train.lock
COPY pyproject.toml README.md ./
COPY contract/ contract/
COPY training/ training/
COPY service/ service/
# the feature networks `dcgan evaluate` embeds images with (read from ./features)
COPY features/ features/
# --no-build-isolation: build with the locked setuptools instead of fetching another
RUN pip install --no-deps --no-build-isolation . \
    && groupadd --system --gid 10001 dcgan \
    && useradd --system --uid 10001 --gid dcgan --create-home dcgan \
    && mkdir -p /app/runs /app/models /app/data \
    && chown dcgan:dcgan /app/runs /app/models /app/data
USER 10001:10001
ENTRYPOINT ["dcgan"]
CMD ["--help"]

# ---- serving images: dependencies first (they change least), then code and models. ------
# Files stay root-owned: the service only reads them. The last stage is the default target.
FROM serve-base AS cuda
COPY --from=deps-cuda /opt/venv /opt/venv
COPY contract/ contract/
COPY service/ service/
COPY models/ models/

FROM serve-base AS cpu
COPY --from=deps-cpu /opt/venv /opt/venv
COPY contract/ contract/
COPY service/ service/
COPY models/ models/
