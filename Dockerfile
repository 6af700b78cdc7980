# textcnn serving image: the FastAPI service with the embedded default model on CPU torch.
#
#   docker build -t textcnn .
#   docker run --rm -p 8000:8000 textcnn
#
# Offline builds (no registry, no package index inside the build; see deploy/README.md):
#   --build-arg BASE_IMAGE=<a local image with Python 3.11 and venv>
#   --build-arg WHEELS=<folder in the build context holding every wheel> --build-arg PIP_OFFLINE=1

ARG BASE_IMAGE=python:3.11-slim

# ---- deps: a virtual environment with the dependencies alone (the big layer; rebuilt when they change) ----
FROM ${BASE_IMAGE} AS deps

# A folder of wheels in the build context, searched before the index; the default one is empty.
ARG WHEELS=deploy/wheels
# 1: install from WHEELS alone, without any index.
ARG PIP_OFFLINE=0
# Where the CPU build of torch comes from (the default Linux torch on PyPI bundles CUDA).
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG TORCH_VERSION=2.13.0

# pip reads these in every call below, the isolated build of the package included.
ENV PIP_NO_INDEX=${PIP_OFFLINE} \
    PIP_FIND_LINKS=/wheels \
    PIP_EXTRA_INDEX_URL=${TORCH_INDEX_URL} \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src

# Read from pyproject.toml alone, so a change to the source reuses this layer.
COPY ${WHEELS}/ /wheels/
COPY pyproject.toml ./
RUN python3 -m venv /opt/venv \
    && python3 -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' \
        > /tmp/requirements.txt \
    && /opt/venv/bin/pip install "torch==${TORCH_VERSION}" -r /tmp/requirements.txt

# ---- build: the package wheel, with the embedded default model in textcnn/default_model/ ----
FROM deps AS build

COPY README.md ./
COPY textcnn ./textcnn
COPY service ./service
COPY training ./training
# The build fails unless the installed package (-I: not the source in /src) loads its model.
RUN /opt/venv/bin/pip wheel --no-deps --wheel-dir /dist . \
    && /opt/venv/bin/pip install --no-deps --no-index /dist/*.whl \
    && /opt/venv/bin/python -I -c 'from textcnn.predict import Predictor; Predictor.load()'

# ---- runtime: the environment and the package, run by an unprivileged user ----
FROM ${BASE_IMAGE} AS runtime

LABEL org.opencontainers.image.title="textcnn" \
      org.opencontainers.image.description="Document classification and extractive summarization with a Kim CNN" \
      org.opencontainers.image.licenses="Apache-2.0"

# A fixed numeric uid, so Kubernetes can check runAsNonRoot.
RUN groupadd --system --gid 10001 textcnn \
    && useradd --system --uid 10001 --gid textcnn --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin textcnn

COPY --from=deps /opt/venv /opt/venv
# Small layers of their own, so a change to the source or the model does not copy torch again. The
# wheel is copied, not bind-mounted from the build stage: buildah (podman build) reuses a cached RUN
# whose bind mount comes from a stage even after that stage changed (buildah issue 6609), which
# served the previous model. The copy costs the wheel's size once more (about 12 MB).
COPY --from=build /dist /tmp/dist
RUN /opt/venv/bin/pip install --no-deps --no-index --no-cache-dir /tmp/dist/*.whl && rm -rf /tmp/dist

# All configuration is TEXTCNN_* environment (service/settings.py). TEXTCNN_TORCH_THREADS defaults to
# cores / workers - 1, and the cores a container sees are the host's: set it to match a CPU limit.
# TEXTCNN_MODEL_DIR unset serves the embedded model; point it at a mounted directory to replace it.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TEXTCNN_HOST=0.0.0.0 \
    TEXTCNN_PORT=8000 \
    TEXTCNN_WORKERS=1

USER 10001:10001
WORKDIR /tmp
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('TEXTCNN_PORT', '8000') + '/health', timeout=4)"]

CMD ["textcnn-serve"]
