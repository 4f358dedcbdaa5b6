# syntax=docker/dockerfile:1
#
# Build:  docker build -t dispatch \
#           --build-arg VERSION=$(git describe --tags --always) --build-arg REVISION=$(git rev-parse HEAD) .
# Multi-arch (the Go build cross-compiles; nothing runs under emulation):
#         docker buildx build --platform linux/amd64,linux/arm64 -t REGISTRY/dispatch:VERSION --push .
# Run:    docker run --rm --env-file dispatch.env -p 8080:8080 dispatch
#
# Base images are fully qualified (podman and buildah refuse short names without an alias) and pinned
# by the digest of their multi-arch index; the tag only says what the digest was taken from. The
# digests are those published for these tags as of late 2026; they could not be checked against the
# registries from the machine this was written on. Refresh both together, e.g.
#   crane digest docker.io/library/golang:1.26.8-bookworm
#   crane digest gcr.io/distroless/static-debian12:nonroot
# (or `docker buildx imagetools inspect IMAGE`), and keep the Go minor in step with go.mod.
ARG GO_IMAGE=docker.io/library/golang:1.26.8-bookworm@sha256:a688600ca24f8a4d3ca77f95b0dd40704a9fc787c826660eb7ba0b641b8b175d
ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot@sha256:afa5c872c891853ca7fcf1f12c3edb23f7eeef36189728842dd51042ff57f7ab

FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG TARGETOS=linux
ARG TARGETARCH
ARG VERSION=dev
RUN CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} go build -trimpath \
      -ldflags "-s -w -X github.com/dispatch-oss/dispatch/bot.Version=${VERSION}" \
      -o /out/dispatch .

FROM ${RUNTIME_IMAGE}
ARG VERSION=dev
ARG REVISION=unknown
ARG SOURCE=https://github.com/dispatch-oss/dispatch
LABEL org.opencontainers.image.title="dispatch" \
      org.opencontainers.image.description="Routes alarms from SQS to Slack, GitHub issues and PagerDuty" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.url="${SOURCE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
COPY --from=build /out/dispatch /dispatch
# distroless's nonroot user, by number so Kubernetes' runAsNonRoot can verify it.
USER 65532:65532
EXPOSE 8080
# No shell or curl here: the binary checks itself (GET /healthz on DISPATCH_HTTP_ADDR, 3 s at
# most). Docker honours HEALTHCHECK; OCI-format images (podman, buildah by default) drop it, and
# Kubernetes and ECS define their own (deploy/helm, deploy/dispatch.yaml).
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 CMD ["/dispatch", "healthcheck"]
ENTRYPOINT ["/dispatch"]
CMD ["run"]
