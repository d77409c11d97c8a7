#!/usr/bin/env bash
# Make sure a Docker engine answers: install Debian's docker.io and start dockerd when run as
# root on a machine without one; otherwise say what to do.
set -euo pipefail
if docker info >/dev/null 2>&1; then
  # (the private engines of Calvin's fault tests and benchmark run without iptables on purpose)
  if pgrep -a dockerd 2>/dev/null | grep -v -- '-calvin-\|calvin-faults-\|calvin-bench-' | grep -q -- '--iptables=false'; then
    echo "note: the running dockerd has --iptables=false: bridge builds get no egress (see $0)" >&2
  fi
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
# With iptables (the default): containers on bridge networks get NAT'd egress, so builds reach
# Debian's mirror without the host network (and cannot reach services on the host's loopback,
# such as the registry). Where dockerd may not use iptables (a container without NET_ADMIN, a
# kernel without nat tables), it is started with --iptables=false: bridge builds then have no
# egress, so a RUN step that downloads fails with a network error naming its URL; resources
# that need the network then build only with CALVIN_BUILD_NETWORK=host, a conscious choice that
# puts the host's loopback services back in a build's reach (the registry still wants its login).
wait_for_engine() {
  for _ in $(seq 1 60); do
    if docker info >/dev/null 2>&1; then
      echo "Docker engine $(docker version --format '{{.Server.Version}}') is running"
      return 0
    fi
    if ! kill -0 "$1" 2>/dev/null; then
      return 2
    fi
    sleep 1
  done
  return 1
}
echo "starting dockerd (log: $log)"
nohup dockerd >"$log" 2>&1 &
status=0; wait_for_engine $! || status=$?
if [ "$status" -eq 2 ] && grep -qi iptables "$log"; then
  echo "dockerd cannot use iptables here: starting it without (bridge builds get no egress;" \
       "see the comment in $0)" >&2
  nohup dockerd --iptables=false >>"$log" 2>&1 &
  status=0; wait_for_engine $! || status=$?
fi
if [ "$status" -eq 0 ]; then
  exit 0
fi
echo "dockerd did not answer within 60 s; its log says:" >&2
tail -n 20 "$log" >&2
exit 1
