#!/usr/bin/env bash
# Install Debian packages whose command is missing: apt-ensure.sh COMMAND:PACKAGE ...
set -euo pipefail
missing=()
for pair in "$@"; do
  command="${pair%%:*}" package="${pair##*:}"
  command -v "$command" >/dev/null 2>&1 || [ -x "/usr/sbin/$command" ] || [ -x "/usr/bin/$command" ] || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing: ${missing[*]} — install them (as root: apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
