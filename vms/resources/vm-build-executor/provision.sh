#!/bin/sh
# Runs in the VM, as root, while Packer builds the disk (template.json).
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends buildbot-worker docker.io gcc make libc6-dev python3 git
id buildbot >/dev/null 2>&1 || useradd --system --user-group --home-dir /var/lib/buildbot --shell /usr/sbin/nologin buildbot
install -d -m 0755 /usr/local/share/calvin
install -m 0644 /tmp/files/buildbot.tac /usr/local/share/calvin/buildbot.tac
install -m 0644 /tmp/files/calvin-worker.service /etc/systemd/system/calvin-worker.service
install -m 0600 /tmp/files/worker.env /etc/calvin-worker.env
install -d -o buildbot -g buildbot -m 0750 /var/lib/buildbot/worker
cp /usr/local/share/calvin/buildbot.tac /var/lib/buildbot/worker/buildbot.tac
usermod -aG docker buildbot
systemctl enable docker.service calvin-worker.service
rm -f /etc/init.d/buildbot-worker /etc/default/buildbot-worker
# Nothing of this build stays: package lists, the files, host keys (each VM makes its own), machine id.
apt-get clean
rm -rf /var/lib/apt/lists/* /tmp/files /var/log/apt/* /var/log/dpkg.log
rm -f /etc/ssh/ssh_host_*
truncate -s 0 /etc/machine-id
