# pipeline-otel-bridge container image.
#
#   docker build -t pipeline-otel-bridge .
#   docker run --rm --read-only -p 9464:9464 -v bridge-state:/var/lib/pipeline-otel-bridge \
#     -e AWS_REGION=eu-west-1 -e OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4317 \
#     pipeline-otel-bridge
#
# The root filesystem can be read-only (--read-only, compose's `read_only: true`): the bridge
# writes nothing but its checkpoints (checkpoints.redb, checkpoints.created) in the state
# directory, /var/lib/pipeline-otel-bridge, which must be a volume; logs go to stderr.
#
# Works with the classic builder and BuildKit alike (no cache mounts): the dependencies are
# compiled in a layer of their own that is rebuilt only when Cargo.toml/Cargo.lock change.

# The toolchain: at least Cargo.toml's rust-version.
FROM rust:1.95.0-bookworm AS builder
WORKDIR /build

# 1. Dependencies only, against stub sources (Cargo.toml names benches/convert.rs, so that
#    needs a stub too). This layer is cached until the manifest or the lock file change.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src benches \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && echo 'fn main() {}' > benches/convert.rs \
 && cargo build --release --locked \
 && rm -rf src benches \
      target/release/pipeline-otel-bridge* \
      target/release/deps/pipeline_otel_bridge-* \
      target/release/deps/libpipeline_otel_bridge-* \
      target/release/.fingerprint/pipeline-otel-bridge-*

# 2. The crate itself. COPY keeps the files' old mtimes, so touch the roots: cargo must not
#    take the stubs' build for up to date.
COPY src ./src
COPY benches ./benches
RUN touch src/main.rs src/lib.rs \
 && cargo build --release --locked \
 && install -m 0755 target/release/pipeline-otel-bridge /usr/local/bin/pipeline-otel-bridge

# Same Debian release as the builder (glibc 2.36).
FROM debian:12.12-slim

# ca-certificates: the AWS SDK and the OTLP exporter (https collectors) use the system roots.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 bridge \
 && useradd --system --uid 10001 --gid 10001 --no-create-home \
      --home-dir /var/lib/pipeline-otel-bridge --shell /usr/sbin/nologin bridge \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/pipeline-otel-bridge

COPY --from=builder /usr/local/bin/pipeline-otel-bridge /usr/local/bin/pipeline-otel-bridge

USER 10001:10001
WORKDIR /var/lib/pipeline-otel-bridge
# The state directory also when the command is overridden (`docker run IMAGE run --once`).
ENV PIPELINE_BRIDGE_STATE_DIR=/var/lib/pipeline-otel-bridge
# Checkpoints (redb): keep them across container restarts, or runs are exported again. The
# only place the bridge writes: with a read-only root filesystem, this must stay a volume (a
# new named volume takes the directory's owner, uid 10001; a bind-mounted host directory must
# be writable by uid 10001).
VOLUME ["/var/lib/pipeline-otel-bridge"]
# --listen: /metrics, /healthz, /readyz
EXPOSE 9464

ENTRYPOINT ["pipeline-otel-bridge"]
CMD ["run", "--listen", "0.0.0.0:9464", "--state", "/var/lib/pipeline-otel-bridge"]
