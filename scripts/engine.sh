#!/usr/bin/env bash
# Make sure a Docker engine answers: install Debian's docker.io and start dockerd when run as
# root on a machine without one; otherwise say what to do.
set -euo pipefail
if docker info >/dev/null 2>&1; then
  exit 0
fi
if [ -n "${DOCKER_HOST:-}" ]; then
  echo "the Docker engine at DOCKER_HOST=$DOCKER_HOST does not answer" >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "no Docker engine answers on /var/run/docker.sock: start one (or run 'make engine' as root)" >&2
  exit 1
fi
"$(dirname "$0")/apt-ensure.sh" dockerd:docker.io
log=/var/log/calvin-dockerd.log
echo "starting dockerd (log: $log)"
# With iptables (the default): containers on bridge networks get NAT'd egress, so builds reach
# Debian's mirror without the host network (and cannot reach services on the host's loopback).
nohup dockerd >"$log" 2>&1 &
for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    echo "Docker engine $(docker version --format '{{.Server.Version}}') is running"
    exit 0
  fi
  sleep 1
done
echo "dockerd did not answer within 60 s; its log says:" >&2
tail -n 20 "$log" >&2
exit 1
