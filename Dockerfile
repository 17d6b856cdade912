# syntax=docker/dockerfile:1
#
# Sluice: one image, every role. `sluiced --role <role>` picks what a
# container runs (k8s/ runs one role per Deployment); with no --role it runs
# everything in one process.
#
#   docker build -t sluice:dev .
#   docker build --build-arg WITH_MODEL=0 -t sluice:dev .    (no embedding model)
#   docker run --rm -p 8080:8080 -e SLUICE_HTTP_BIND=0.0.0.0 \
#       -e SLUICE_AUTH_KEYS=a-long-random-key:default -v sluice-data:/data sluice:dev
#
# Two stages: the build stage has compilers and -dev packages; the runtime
# stage has only the shared libraries the binaries load, runs as uid 10001,
# and works with a read-only root filesystem: it writes only under /data
# (the data folder: mount a volume) and /tmp (mount an emptyDir).

ARG DEBIAN_IMAGE=debian:bookworm

# --------------------------------------------------------------------------
FROM ${DEBIAN_IMAGE} AS build

# The build dependencies are scripts/setup-deps.sh's own list, read from
# the script rather than copied here, minus what only tests and benchmarks
# use: the build tools and every -dev package are kept, except libclang-rt
# (the fuzzer's runtime) and hiredis (the Redis benchmark's client).
COPY scripts/setup-deps.sh /src/scripts/setup-deps.sh
RUN set -eux; \
    pkgs=$(sed -n '/^PKGS=(/,/^)/p' /src/scripts/setup-deps.sh | sed -e '1d' -e '$d' -e 's/#.*//' \
           | tr -s ' \t' '\n' \
           | grep -E '^(build-essential|cmake|pkg-config|[a-z0-9.+-]+-dev)$' \
           | grep -vE '^(libclang-rt-[0-9]+-dev|libhiredis-dev)$'); \
    test -n "$pkgs"; \
    apt-get update; \
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates $pkgs; \
    rm -rf /var/lib/apt/lists/*

COPY . /src
WORKDIR /src
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release \
 && cmake --build /build -j"$(nproc)" --target sluiced sluice

# The default embedder's weights ('use', the Universal Sentence Encoder
# lite), installed by the project's own script with its pinned checksum.
# WITH_MODEL=0 builds an image without them: embed then needs another
# provider (embed.provider = hash, bert or openai).
ARG WITH_MODEL=1
RUN set -eux; mkdir -p /opt/sluice/models; \
    if [ "$WITH_MODEL" = 1 ] && [ -f scripts/setup-model.sh ]; then \
        apt-get update; \
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends npm; \
        SLUICE_MODEL_DIR=/opt/sluice/models bash scripts/setup-model.sh; \
        rm -rf /var/lib/apt/lists/*; \
    fi

# --------------------------------------------------------------------------
FROM debian:bookworm-slim AS runtime

# Runtime libraries of sluiced and sluice (MuPDF is linked statically, its
# third-party libraries are not). The RUN after the COPY fails the build if
# a library is missing, so this list cannot silently fall behind the code.
RUN set -eux; \
    apt-get update; \
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        ca-certificates \
        libzmq5 libczmq4 libsodium23 libmsgpackc2 \
        libcurl4 libssl3 \
        libfreetype6 libharfbuzz0b libjbig2dec0 libopenjp2-7 libjpeg62-turbo zlib1g libgumbo1 libmujs2 \
        libopenblas0-pthread libutf8proc2 \
        libsqlite3-0 libpq5 \
        libmicrohttpd12 libjansson4 \
        libtesseract5 tesseract-ocr-eng libzip4 libxml2 libgmime-3.0-0 libstemmer0d; \
    rm -rf /var/lib/apt/lists/*; \
    groupadd --system --gid 10001 sluice; \
    useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home \
            --shell /usr/sbin/nologin sluice; \
    mkdir -p /data; \
    chown 10001:10001 /data

COPY --from=build /build/actors/sluiced /build/bindings/cli/sluice /usr/local/bin/
COPY --from=build /opt/sluice/models /opt/sluice/models
RUN set -eux; \
    if ldd /usr/local/bin/sluiced /usr/local/bin/sluice | grep 'not found'; then exit 1; fi; \
    /usr/local/bin/sluiced --version

# SLUICE_MODEL_DIR: where the embedders find their weights.
# OPENBLAS_NUM_THREADS: OpenBLAS would start a thread per core of the node
# (not of the container's CPU limit) in every process; handler threads and
# replicas are the parallelism, so one BLAS thread each.
ENV SLUICE_MODEL_DIR=/opt/sluice/models \
    OPENBLAS_NUM_THREADS=1 \
    HOME=/tmp

USER 10001:10001
WORKDIR /data

# 5555 broker ROUTER, 5556 broker events, 5557 broker pair state, 8080 HTTP edge,
# 9101 broker metrics (/metrics, /stats.json), 9102 worker health (/healthz, /readyz)
EXPOSE 5555 5556 5557 8080 9101 9102

# sluiced drains on SIGTERM (the default stop signal) and exits 0; it takes
# signals itself with sigwait and starts no children, so it can be PID 1.
ENTRYPOINT ["/usr/local/bin/sluiced"]
CMD ["--data", "/data"]
