#!/bin/sh
# Runs in the VM, as root, while Packer builds the disk (template.json).
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends buildbot-worker docker.io gcc make libc6-dev python3 git
install -m 0644 /tmp/calvin-files/buildbot.tac /usr/local/share/calvin/buildbot.tac 2>/dev/null || {
  mkdir -p /usr/local/share/calvin && install -m 0644 /tmp/calvin-files/buildbot.tac /usr/local/share/calvin/; }
install -m 0644 /tmp/calvin-files/calvin-worker.service /etc/systemd/system/calvin-worker.service
install -m 0600 /tmp/calvin-files/worker.env /etc/calvin-worker.env
install -d -o buildbot -g buildbot -m 0750 /var/lib/buildbot/worker
cp /usr/local/share/calvin/buildbot.tac /var/lib/buildbot/worker/buildbot.tac
usermod -aG docker buildbot
systemctl enable docker.service calvin-worker.service
rm -f /etc/init.d/buildbot-worker /etc/default/buildbot-worker
# Nothing of this build stays: package lists, the files, host keys (each VM makes its own), machine id.
apt-get clean
rm -rf /var/lib/apt/lists/* /tmp/calvin-files /var/log/apt/* /var/log/dpkg.log
rm -f /etc/ssh/ssh_host_*
truncate -s 0 /etc/machine-id
