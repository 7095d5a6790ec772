# syntax=docker/dockerfile:1
# Portcullis as a static binary on distroless, running as a non-root user.
#   docker build -t portcullis .
#   docker run -p 8080:8080 portcullis        (SQLite in /data; mount a volume there to keep it)

FROM golang:1.26-bookworm AS build
WORKDIR /src
# Modules first, so that a source change does not re-download them.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags='-s -w' -o /out/portcullis ./cmd/portcullis \
	&& mkdir -p /out/data

# distroless/static: CA certificates, tzdata and /etc/passwd, no shell; nonroot is uid 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/portcullis /usr/local/bin/portcullis
COPY --from=build --chown=65532:65532 /out/data /data
ENV PORTCULLIS_ADDR=:8080 \
	PORTCULLIS_DATA_DIR=/data
USER 65532:65532
VOLUME /data
EXPOSE 8080
# No curl in distroless: the binary checks its own /readyz.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
	CMD ["/usr/local/bin/portcullis", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/portcullis"]
CMD ["serve"]
