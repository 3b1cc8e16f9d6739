# resilience_exporter container image.
#
#   docker build --build-arg XP_REVISION=$(git rev-parse --short=12 HEAD) -t resilience_exporter .
#   docker run -p 9866:9866 -e STAGING_DB_PASSWORD=... resilience_exporter
#
# XP_REVISION is the revision resilience_exporter_build_info shows: the build context has no
# .git (.dockerignore), so it comes in as a build argument ("unknown" without it).
# tests/image/test_image.py builds this file with podman and runs the result.
#
# Both stages install their packages from the lists the CI reads (etc/packages/*.txt), so
# the image and the CI cannot drift apart: add a library there, not here.

# ---------------------------------------------------------------------------- build
FROM debian:bookworm-slim AS build
COPY etc/packages/build.txt /tmp/packages/build.txt
# One list, comments and blank lines skipped.
RUN apt-get update \
    && sed -e 's/#.*//' /tmp/packages/build.txt | xargs apt-get install -y --no-install-recommends \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Read by CMakeLists.txt from the environment when there is no .git.
ARG XP_REVISION=unknown
# The CI's build commands. BUILD_TESTING=OFF: the test suite (cmocka, real servers) needs
# the packages of etc/packages/test.txt, which the image does not carry; CI runs it.
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
    && cmake --build build \
    && ./build/resilience_exporter --version

# -------------------------------------------------------------------------- runtime
FROM debian:bookworm-slim
COPY etc/packages/runtime.txt /tmp/packages/runtime.txt
RUN apt-get update \
    && sed -e 's/#.*//' /tmp/packages/runtime.txt | xargs apt-get install -y --no-install-recommends \
    && rm -rf /var/lib/apt/lists/* /tmp/packages \
    && useradd --system --uid 10001 --user-group --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin resilience_exporter
COPY --from=build /src/build/resilience_exporter /usr/local/bin/resilience_exporter
# The staging config: endpoints and secrets come from the environment (STAGING_DB_PASSWORD,
# OPENAI_API_KEY, ...). Mount your own file over it, or another directory with
# --config.file. Readable by the service user, not writable.
COPY etc/resilience_exporter.ini /etc/resilience_exporter/resilience_exporter.ini
RUN chmod 0755 /etc/resilience_exporter && chmod 0644 /etc/resilience_exporter/resilience_exporter.ini \
    && /usr/local/bin/resilience_exporter --version

# Declared after the last RUN: a new revision does not invalidate the cached layers above.
ARG XP_REVISION=unknown
LABEL org.opencontainers.image.title="resilience_exporter" \
      org.opencontainers.image.revision="${XP_REVISION}"

USER 10001:10001
EXPOSE 9866
# /-/healthy answers without credentials even when basic auth is configured; with TLS on,
# replace http:// by https:// and add --insecure (or --cacert).
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD ["curl", "--fail", "--silent", "--show-error", "--output", "/dev/null", "--max-time", "2", "http://127.0.0.1:9866/-/healthy"]
ENTRYPOINT ["/usr/local/bin/resilience_exporter"]
CMD ["--config.file=/etc/resilience_exporter/resilience_exporter.ini"]
