#!/usr/bin/env bash
# Make sure a Docker Distribution registry answers on 127.0.0.1:${CALVIN_REGISTRY_PORT:-5000}:
# install Debian's docker-registry when missing, start it with Calvin's config when not running,
# and log the Docker client in (`docker login`), which is where Calvin reads the credentials.
#
# Every request needs the login (Distribution's htpasswd guards pulls and reads too, not only
# pushes and deletes). The user and a random password are made once, into files only root can
# read: $root/htpasswd (bcrypt) and $root/password. Deletes are off unless
# CALVIN_REGISTRY_DELETE=true when the registry is started.
set -euo pipefail
port="${CALVIN_REGISTRY_PORT:-5000}"
root="${CALVIN_REGISTRY_DIR:-/var/lib/calvin-registry}"
user="${CALVIN_REGISTRY_USER:-calvin}"
delete="${CALVIN_REGISTRY_DELETE:-false}"
address="127.0.0.1:$port"

status() { curl -s -o /dev/null -w '%{http_code}' "http://$address/v2/" 2>/dev/null || true; }
login() { docker login "$address" --username "$user" --password-stdin <"$root/password" >/dev/null; }

"$(dirname "$0")/apt-ensure.sh" docker-registry:docker-registry curl:curl htpasswd:apache2-utils
umask 077
mkdir -p "$root/data"
chmod 700 "$root"
if [ ! -s "$root/password" ] || [ ! -s "$root/htpasswd" ]; then
  head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' >"$root/password"
  htpasswd -niB "$user" <"$root/password" >"$root/htpasswd"
  echo "made the registry login '$user' (password: $root/password, readable by root only)"
fi

case "$(status)" in
  401) login; exit 0 ;;
  200)
    echo "a registry without authentication already answers on $address (an older 'make registry'?):" >&2
    echo "stop it and run 'make registry' again" >&2
    exit 1 ;;
esac

cat >"$root/config.yml" <<YAML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $root/data
  delete:
    enabled: $delete
auth:
  htpasswd:
    realm: calvin-registry
    path: $root/htpasswd
http:
  addr: $address
YAML
echo "starting docker-registry on $address (data: $root/data, log: $root/registry.log, deletes: $delete)"
nohup docker-registry serve "$root/config.yml" >"$root/registry.log" 2>&1 &
for _ in $(seq 1 30); do
  if [ "$(status)" = 401 ]; then
    login
    echo "logged in to $address as '$user' (docker login: credentials in ${DOCKER_CONFIG:-$HOME/.docker}/config.json)"
    exit 0
  fi
  sleep 0.5
done
echo "the registry did not answer within 15 s; its log says:" >&2
tail -n 20 "$root/registry.log" >&2
exit 1
