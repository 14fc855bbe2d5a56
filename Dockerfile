# nginx with ngx_http_nitro_attest_module, ngx_stream_nitro_attest_module and
# the nitro-attest CLI, installed from the Debian packages "make deb" builds.
#
#   docker build -t nitro-attest-nginx .
#   docker run -p 443:443 \
#       -v "$PWD/site.conf:/etc/nginx/conf.d/site.conf:ro" \
#       -v "$PWD/tls:/etc/nginx/tls:ro" \
#       -v "$PWD/policy.json:/etc/nginx/nitro/policy.json:ro" \
#       nitro-attest-nginx
#
# t/test_dockerfile.py runs the build stage in a scratch copy of the tree
# and checks the runtime configuration with nginx -t.

FROM debian:bookworm-slim AS build

WORKDIR /src
COPY . .
# the same steps as on a developer's machine: install-deps.sh, then make
RUN scripts/build.sh deb


FROM debian:bookworm-slim

COPY --from=build /src/build/deb/libnginx-mod-http-nitro-attest_*.deb \
                  /src/build/deb/libnginx-mod-stream-nitro-attest_*.deb \
                  /src/build/deb/nitro-attest_*.deb /tmp/debs/

# apt resolves the packages' dependencies (nginx of the matching ABI,
# libcbor, jansson); each module's postinst enables it in modules-enabled/,
# the stream one (70-) after Debian's stream module (50-mod-stream.conf)
RUN apt-get update \
    && apt-get install -y --no-install-recommends nginx libnginx-mod-stream \
        curl /tmp/debs/*.deb \
    && rm -rf /var/lib/apt/lists/* /tmp/debs \
    && rm -f /etc/nginx/sites-enabled/default \
    && ln -sf /dev/stdout /var/log/nginx/access.log \
    && ln -sf /dev/stderr /var/log/nginx/error.log

COPY docker/nginx.conf /etc/nginx/nginx.conf
COPY docker/nitro-attest-status.conf /etc/nginx/conf.d/
# complete nginx.conf examples (nginx -c /etc/nginx/conf-examples/NAME.conf)
# and server blocks for conf.d/ (conf-examples/conf.d/)
COPY conf-examples/ /etc/nginx/conf-examples/

EXPOSE 443

STOPSIGNAL SIGQUIT

HEALTHCHECK --interval=30s --timeout=3s --start-period=5s --retries=3 \
    CMD curl -fsS -o /dev/null http://127.0.0.1:9145/nitro-attest/status || exit 1

CMD ["nginx", "-g", "daemon off;"]
