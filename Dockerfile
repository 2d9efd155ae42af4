# whatsignal's container image. Build from the repository root:
#   docker build -t whatsignal .
# Run it with deploy/compose.yaml (WAHA and signal-cli-rest-api beside it), or alone:
#   docker run -v whatsignal-data:/data -v ./config.yaml:/config/config.yaml:ro \
#     --env-file .env -p 127.0.0.1:8082:8082 whatsignal
# The configuration is a mounted file (/config/config.yaml), the secrets come from the
# environment; see README.md "Run it for real" and docs/operations.md.

ARG PYTHON_IMAGE=python:3.12.11-slim-bookworm

# Stage 1: build the wheels of whatsignal and of everything it needs.
FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# Stage 2: the runtime. Only the installed wheels: no compiler, no sources, no pip cache.
FROM ${PYTHON_IMAGE}
ARG UID=10001
RUN groupadd --system --gid "${UID}" whatsignal \
    && useradd --system --uid "${UID}" --gid whatsignal --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin whatsignal \
    && mkdir -p /data /config \
    && chown whatsignal:whatsignal /data
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index /wheels/*.whl

# The bridge's defaults in a container: listen on every interface of the container (a
# development setup outside one binds 127.0.0.1), keep the database on the /data volume,
# read the mounted config.
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    WHATSIGNAL_HOST=0.0.0.0 \
    PORT=8082 \
    DB_PATH=/data/whatsignal.db \
    WHATSIGNAL_CONFIG=/config/config.yaml

USER ${UID}:${UID}
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8082
HEALTHCHECK --interval=30s --timeout=10s --start-period=20s --retries=3 \
    CMD ["python", "-m", "whatsignal", "--healthcheck"]
ENTRYPOINT ["whatsignal"]
CMD ["run", "--log-format", "json"]
