#!/bin/bash
# The image's HEALTHCHECK: GET /healthz with bash's /dev/tcp (no curl in the
# image); healthy when the agent answers 200. OTEL_AGENT_HEALTH_ADDR names
# another HOST:PORT when --listen moves the endpoint (plain HTTP only: with
# TLS from --web.config.file, replace the healthcheck).
addr=${OTEL_AGENT_HEALTH_ADDR:-127.0.0.1:9464}
exec 3<>"/dev/tcp/${addr%:*}/${addr##*:}" || exit 1
printf 'GET /healthz HTTP/1.0\r\nHost: %s\r\n\r\n' "$addr" >&3
read -r -t 5 _ code _ <&3 || exit 1
[ "$code" = 200 ]
