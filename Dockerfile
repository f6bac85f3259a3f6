# syntax=docker/dockerfile:1
# One image for relay, relay-worker and relayctl.
#   docker build -t relay .
#   docker run -v ./relay.json:/etc/relay/relay.json:ro -p 8080:8080 relay
#   docker run ... relay relay-worker        docker run ... relay relayctl stats
# BASE is overridable so that tests/container/test_image.sh can build from a local Debian base.
ARG BASE=debian:bookworm-slim

FROM ${BASE} AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      gcc libc6-dev make cmake pkg-config \
      libevent-dev libcurl4-openssl-dev libssl-dev zlib1g-dev libjansson-dev libhiredis-dev libjemalloc-dev \
 && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
WORKDIR /src
COPY CMakeLists.txt ./
COPY core/ core/
COPY relay/ relay/
COPY queue/ queue/
COPY handlers/ handlers/
COPY ctl/ ctl/
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRELAY_TESTS=OFF \
 && cmake --build /build -j"$(nproc)" \
 && cmake --install /build --prefix /usr/local --strip

FROM ${BASE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libevent-2.1-7 libevent-openssl-2.1-7 libevent-pthreads-2.1-7 libcurl4 libssl3 \
      libjansson4 libhiredis0.14 libjemalloc2 ca-certificates curl \
 && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
 && groupadd --system --gid 10001 relay \
 && useradd --system --uid 10001 --gid relay --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin relay \
 && mkdir -p /etc/relay
COPY --from=build /usr/local/bin/relay /usr/local/bin/relay-worker /usr/local/bin/relayctl /usr/local/bin/
COPY deploy/relay-healthcheck /usr/local/bin/relay-healthcheck
COPY config/relay.example.json /etc/relay/relay.example.json
ENV RELAY_CONFIG=/etc/relay/relay.json
USER relay:relay
EXPOSE 8080
# Reads "listen" (and "tls") from $RELAY_CONFIG; RELAY_HEALTH_URL overrides.
HEALTHCHECK --interval=30s --timeout=3s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/relay-healthcheck"]
STOPSIGNAL SIGTERM
CMD ["relay"]
