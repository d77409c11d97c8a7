#!/usr/bin/env bash
# Make sure a Docker Distribution registry answers on 127.0.0.1:${CALVIN_REGISTRY_PORT:-5000}:
# install Debian's docker-registry when missing, start it with Calvin's config when not running.
set -euo pipefail
port="${CALVIN_REGISTRY_PORT:-5000}"
root="${CALVIN_REGISTRY_DIR:-/var/lib/calvin-registry}"
if curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1; then
  exit 0
fi
"$(dirname "$0")/apt-ensure.sh" docker-registry:docker-registry curl:curl
mkdir -p "$root/data"
cat >"$root/config.yml" <<YAML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $root/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
YAML
echo "starting docker-registry on 127.0.0.1:$port (data: $root/data, log: $root/registry.log)"
nohup docker-registry serve "$root/config.yml" >"$root/registry.log" 2>&1 &
for _ in $(seq 1 30); do
  if curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1; then
    exit 0
  fi
  sleep 0.5
done
echo "the registry did not answer within 15 s; its log says:" >&2
tail -n 20 "$root/registry.log" >&2
exit 1
