# syntax=docker/dockerfile:1
# The Cool Papers image: the web tier, the Celery workers, beat and the migration all run it
# (see docker-compose.yml). Two variants, chosen with a build argument:
#
#   docker build -t coolpapers .                              # VARIANT=cpu: CPU torch + faiss-cpu
#   docker build -t coolpapers:gpu --build-arg VARIANT=gpu .  # CUDA torch + faiss-gpu (embedder-gpu)
#
# VARIANT=gpu installs torch from PyTorch's CUDA index (TORCH_CUDA_INDEX, CUDA 12.8 wheels by default)
# and replaces faiss-cpu with FAISS_GPU_PACKAGE (faiss-gpu-cu12). The CUDA runtime comes inside those
# wheels; the host needs only the NVIDIA driver and the NVIDIA Container Toolkit.
# torch is pinned (as in pyproject.toml): unpinned, pip would pull a multi-GB CUDA build even for CPU.

ARG PYTHON_IMAGE=python:3.11-slim
ARG NODE_IMAGE=node:22-slim

# Static assets, vendored like `make static` does (no CDN: the site works offline).
FROM ${NODE_IMAGE} AS static
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --silent --omit=optional \
 && mkdir -p vendor/katex vendor/swagger-ui vendor/pdfjs/wasm \
 && cp -r node_modules/katex/dist/katex.min.js node_modules/katex/dist/katex.min.css \
          node_modules/katex/dist/fonts node_modules/katex/dist/contrib vendor/katex/ \
 && cp node_modules/swagger-ui-dist/swagger-ui-bundle.js node_modules/swagger-ui-dist/swagger-ui.css \
       node_modules/swagger-ui-dist/favicon-32x32.png vendor/swagger-ui/ \
 && cp node_modules/pdfjs-dist/build/pdf.min.mjs node_modules/pdfjs-dist/build/pdf.worker.min.mjs \
       node_modules/pdfjs-dist/LICENSE vendor/pdfjs/ \
 && cp -r node_modules/pdfjs-dist/cmaps node_modules/pdfjs-dist/standard_fonts node_modules/pdfjs-dist/iccs \
          vendor/pdfjs/ \
 && cp node_modules/pdfjs-dist/wasm/*_nowasm_fallback.js node_modules/pdfjs-dist/wasm/LICENSE_* vendor/pdfjs/wasm/

FROM ${PYTHON_IMAGE} AS app
ARG VARIANT=cpu
ARG TORCH_VERSION=2.13.0
ARG TORCH_CPU_INDEX=https://download.pytorch.org/whl/cpu
ARG TORCH_CUDA_INDEX=https://download.pytorch.org/whl/cu128
ARG FAISS_GPU_PACKAGE=faiss-gpu-cu12
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATA_DIR=/data
WORKDIR /app

# The dependencies first, in a layer that code changes do not invalidate: install the project
# from its pyproject with empty packages, then remove the project itself and keep its dependencies.
COPY pyproject.toml README.md* ./
RUN set -eu; \
    case "$VARIANT" in \
      cpu) index="$TORCH_CPU_INDEX" ;; \
      gpu) index="$TORCH_CUDA_INDEX" ;; \
      *) echo "VARIANT must be cpu or gpu, not $VARIANT" >&2; exit 1 ;; \
    esac; \
    [ -f README.md ] || touch README.md; \
    mkdir -p app workers && touch app/__init__.py workers/__init__.py; \
    pip install --extra-index-url "$index" "torch==${TORCH_VERSION}" ".[semantic]"; \
    if [ "$VARIANT" = gpu ]; then pip uninstall -y faiss-cpu && pip install "$FAISS_GPU_PACKAGE"; fi; \
    pip uninstall -y coolpapers; \
    rm -rf app workers build *.egg-info

COPY . .
COPY --from=static /src/vendor static/vendor
# Editable, so that app/ finds templates/, static/ and migrations/ beside it in /app.
RUN pip install --no-deps -e . \
 && useradd --system --uid 10001 --user-group --create-home --home-dir /home/app app \
 && mkdir -p /data \
 && chown app:app /data

USER app
VOLUME ["/data"]
EXPOSE 8000
# `coolpapers serve` is uvicorn with a deadline on request heads (app/connections.py) and TRUSTED_PROXIES.
CMD ["coolpapers", "serve", "--host", "0.0.0.0", "--port", "8000"]
