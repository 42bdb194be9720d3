# attestd and attest in a small image. Build: docker build -t attestd .
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/attestd ./cmd/attestd && \
    CGO_ENABLED=0 go build -trimpath -o /out/attest ./cmd/attest && \
    mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/attestd /out/attest /usr/local/bin/
# The data directory belongs to the nonroot user (65532) so that a fresh volume is writable.
COPY --from=build --chown=65532:65532 /out/data /var/lib/attestd
WORKDIR /var/lib/attestd
USER nonroot
EXPOSE 7700 7701
ENTRYPOINT ["/usr/local/bin/attestd"]
CMD ["serve", "--grpc-listen", "0.0.0.0:7700", "--http-listen", "0.0.0.0:7701", "--data-dir", "/var/lib/attestd"]
