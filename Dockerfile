# syntax=docker/dockerfile:1
#
# The service's image: the `api` binary on distroless, as a non-root user, configured by the
# environment alone (the built-in copies of config/*.toml are compiled in).
#
#   docker build -t tasks-service .
#   docker run --rm -e DATABASE_URL=... -e JWT_SECRET=... tasks-service migrate up   # once per release
#   docker run --rm -p 8080:8080 -e DATABASE_URL=... -e DATABASE_URL_POOLED=... -e JWT_SECRET=... tasks-service
#
# What can be checked without a container runtime (the binary from an empty, read-only
# directory, as a non-root user, with environment settings only: probes, migrations, a clean
# SIGTERM) is checked by scripts/deploy-check, part of scripts/test.

ARG RUST_VERSION=1.94

# Dependencies are built in a layer of their own (cargo-chef), so a change to the code
# rebuilds the workspace's crates only.
FROM rust:${RUST_VERSION}-slim-bookworm AS chef
RUN cargo install cargo-chef --locked --version 0.1.78
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /src/recipe.json recipe.json
# sqlx-core is vendored (a [patch] path dependency): the recipe's build needs it.
COPY vendor vendor
RUN cargo chef cook --release --locked -p api --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked -p api

# glibc and libgcc, nothing else: no shell, no package manager. TLS roots are compiled into the
# binary (rustls), so no CA bundle is needed either.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /src/target/release/api /usr/local/bin/api
ENV APP_ENV=production \
    APP_HOST=0.0.0.0 \
    APP_PORT=8080 \
    LOG_FORMAT=json
EXPOSE 8080
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/api"]
CMD ["serve"]
