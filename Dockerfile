# syntax=docker/dockerfile:1
#
# schoolnet container image: `schoolnet run` as a non-root user on Debian
# slim. Build from the repository root:
#
#   docker build -t schoolnet:local .
#   docker run --rm schoolnet:local --help
#
# deploy/compose/docker-compose.yml builds and runs it with the whole stack;
# deploy/kubernetes/ runs it as a StatefulSet. README "Deployment".
#
# Stage 1 compiles with the Rust toolchain (the Cargo.lock as committed:
# --locked); stage 2 is debian:bookworm-slim (same glibc as the builder)
# with only CA certificates added (mqtts:// and https:// trust the system
# roots) and the binary. bash, part of every Debian base, runs the health
# check; no curl or wget.

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS build
WORKDIR /src
# .dockerignore lets in only the workspace (manifests, sources of every
# member, the sample inventory the binary embeds) and deploy/docker/.
COPY . .
# Registry and target dir are BuildKit caches: a rebuild after a source
# change recompiles only schoolnet's own crates.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin schoolnet \
    && install -D -m 755 target/release/schoolnet /out/schoolnet

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
# A fixed, numeric, unprivileged uid/gid (Kubernetes' runAsNonRoot can only
# verify a numeric USER). The spool directory belongs to it: a new named
# volume or PVC mounted there starts with this owner.
RUN groupadd --system --gid 10001 schoolnet \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin schoolnet \
    && install -d -m 755 -o root -g root /etc/schoolnet \
    && install -d -m 700 -o 10001 -g 10001 /var/lib/schoolnet
COPY --from=build /out/schoolnet /usr/local/bin/schoolnet
COPY deploy/docker/healthcheck.sh /usr/local/bin/schoolnet-healthcheck

USER 10001:10001
# The spool ([spool] dir = "/var/lib/schoolnet/spool" in the compose and
# Kubernetes configs): keep it on a volume, it holds history not yet in
# InfluxDB.
VOLUME ["/var/lib/schoolnet"]
# exporter.listen: /metrics, /healthz, /readyz, /api/*, status page.
EXPOSE 9740
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["/usr/local/bin/schoolnet-healthcheck"]
# PID 1 is schoolnet itself: SIGTERM (docker stop) drains and exits. Give it
# the time to (stop_grace_period 45s in compose, terminationGracePeriodSeconds
# in Kubernetes).
ENTRYPOINT ["/usr/local/bin/schoolnet"]
CMD ["run", "--config", "/etc/schoolnet/schoolnet.toml"]
