# The supplygate image: `docker build -t ghcr.io/supplygate/supplygate:<version> .` (BuildKit,
# the default since Docker 23; no `# syntax=` line, which would pull an unpinned frontend image).
#
# Base images are pinned by digest (a tag can be moved; a digest cannot). Re-resolve both when
# updating: `docker buildx imagetools inspect rust:1.95-bookworm` (and the distroless one).

# Build stage: the toolchain the crate is tested with, and exactly the Cargo.lock versions.
FROM rust:1.95-bookworm@sha256:6258907abe69656e41cd992e0b705cdcfabcbbe3db374f92ed2d47121282d4a1 AS build
WORKDIR /src
# Only what the build reads (.dockerignore keeps target/, fixtures/, tests/ out of the context).
COPY Cargo.toml Cargo.lock README.md build.rs ./
COPY src ./src
# The patched sigstore-tsa that Cargo.toml's [patch.crates-io] names (docs/timestamps.md).
COPY patches ./patches
COPY policies ./policies
# Cargo.toml names these bench targets; cargo refuses a manifest whose targets are missing.
COPY benches ./benches
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin supplygate \
    && install -D -m 0755 target/release/supplygate /out/supplygate

# Runtime: glibc, libgcc and CA certificates (for registries over TLS); no shell, no package
# manager; user 65532 (`nonroot`).
FROM gcr.io/distroless/cc-debian12:nonroot@sha256:9dac0a79194e45a7da0158a9c6da57b217585af0786db3845d1f0ec1a0dd182f
LABEL org.opencontainers.image.source="https://github.com/supplygate/supplygate" \
      org.opencontainers.image.description="Guards GitOps deployments: verifies every container image before it runs" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/supplygate /usr/local/bin/supplygate
USER 65532:65532
# `serve` listens here (deploy/webhook).
EXPOSE 8443
ENTRYPOINT ["/usr/local/bin/supplygate"]
CMD ["--help"]
