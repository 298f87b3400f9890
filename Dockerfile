# threatstop in a container: the binaries built in one stage, run as a non-root user on a minimal base
# in the next. By default it serves Corefile.example (its feed files, a test certificate made here),
# listening on every address of the container instead of 127.0.0.1:
#
#   docker build -t threatstop .
#   docker run --rm -p 1053:1053/udp -p 1053:1053/tcp -p 8853:8853 -p 9155:9155 threatstop
#   dig -p 1053 @127.0.0.1 2.0.0.127.demo.threatstop.local A
#
# The image's test certificate and key (bin/tls, for Corefile.example's DNS over TLS) are made at build
# time and sit in the image: no secret, a real server replaces both. A real server mounts its own
# Corefile at /etc/threatstop/Corefile and a volume at /var/lib/threatstop (the working directory: feed
# cache, threatlog's and threatadmin's databases, relative paths). Docker lets a non-root process bind
# ports below 1024 inside the container (20.10 and later).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/bin/ ./cmd/... && \
    make bin/tls/cert.pem && \
    mkdir -p /out/lib/bin /out/etc && \
    cp -r testdata /out/lib/testdata && cp -r bin/tls /out/lib/bin/tls && \
    sed 's/127\.0\.0\.1:/0.0.0.0:/; s/^\( *\)bind 127\.0\.0\.1$/\1bind 0.0.0.0/' Corefile.example > /out/etc/Corefile

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/bin/ /usr/local/bin/
COPY --from=build /out/etc/Corefile /etc/threatstop/Corefile
COPY --from=build --chown=nonroot:nonroot /out/lib/ /var/lib/threatstop/
WORKDIR /var/lib/threatstop
USER nonroot:nonroot
EXPOSE 53/udp 53/tcp 853/tcp 1053/udp 1053/tcp 8853/tcp 9153/tcp 9155/tcp
ENTRYPOINT ["/usr/local/bin/threatstop"]
CMD ["-conf", "/etc/threatstop/Corefile"]
