# syntax=docker/dockerfile:1
#
# kafka2pg as a container: a static binary (CGO_ENABLED=0) on distroless
# static, running as the image's non-root user (65532). Multi-platform:
#
#   docker buildx build --platform linux/amd64,linux/arm64 \
#     --build-arg VERSION=$(git describe --tags --always) \
#     --build-arg COMMIT=$(git rev-parse --short=12 HEAD) \
#     --build-arg DATE=$(TZ=UTC git log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ) \
#     -t kafka2pg:dev .
#
#   docker run --rm -v $PWD/pipeline.yaml:/etc/kafka2pg/pipeline.yaml:ro -p 9187:9187 kafka2pg:dev
#
# The configuration's http.listen must bind 0.0.0.0:9187 (or :9187) for the
# probes and Prometheus to reach /healthz, /readyz and /metrics.

ARG GO_VERSION=1.26

# The compiler runs on the build machine's platform and cross-compiles: no
# emulation for arm64.
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG TARGETOS=linux
ARG TARGETARCH=amd64
ARG VERSION=dev
ARG COMMIT=unknown
ARG DATE=unknown
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT} -X main.date=${DATE}" \
      -o /out/kafka2pg ./cmd/kafka2pg

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/kafka2pg /usr/local/bin/kafka2pg
USER 65532:65532
EXPOSE 9187
ENTRYPOINT ["/usr/local/bin/kafka2pg"]
CMD ["run", "--config", "/etc/kafka2pg/pipeline.yaml"]
