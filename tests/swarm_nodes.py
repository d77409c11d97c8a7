"""Two Docker engines, each in a network namespace of its own, joined into one Swarm — the test's
own small cluster on this machine; `close()` removes everything it made, also after a failure.

    host netns:  bridge calvsw<n> 10.231.<n>.1/24  ← the registry listens here (plain HTTP)
      ├─ veth → netns calvsw<n>-1: eth0 10.231.<n>.2, dockerd "node-1" (swarm manager)
      └─ veth → netns calvsw<n>-2: eth0 10.231.<n>.3, dockerd "node-2" (swarm worker)

Each dockerd (bench/dockerd.py, shared with the private engine of the benchmark and the fault
tests) is started with `nsenter --net=/var/run/netns/<ns>` (not `ip netns exec`, which remounts
/sys: dockerd then fails with "Devices cgroup isn't mounted") inside `unshare --uts` (a host name of
its own, the Swarm node's name), with its own bridge inside its namespace, data-root, exec-root and
socket, `--iptables=false` (it adds no firewall rule) and the registry marked insecure. Only root
can do this.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from bench.dockerd import Dockerd


def possible() -> str | None:
    """Why a cluster cannot be made here, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, a second dockerd)"
    missing = [tool for tool in ("dockerd", "docker", "ip", "nsenter", "unshare") if shutil.which(tool) is None]
    return f"missing tools: {', '.join(missing)}" if missing else None


def _run(*command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: {done.stderr.strip() or done.stdout.strip()}")
    return done


class Node:
    def __init__(self, cluster: Cluster, index: int) -> None:
        self.cluster, self.index = cluster, index
        self.name = f"node-{index}"
        self.netns = f"{cluster.token}-{index}"
        self.address = f"{cluster.prefix}.{index + 1}"
        self.token = f"{cluster.token}-{index}"
        prefix = ["nsenter", f"--net=/var/run/netns/{self.netns}", "unshare", "--uts", "sh", "-c",
                  f'hostname {self.name} && exec "$@"', "sh"]
        self.daemon = Dockerd(self.token, cluster.work / f"dockerd-{index}.log", prefix=prefix, timeout=90,
                              args=[f"--insecure-registry={cluster.registry_address}", "--bip=172.31.250.1/24"],
                              what=f"dockerd of {self.name}")
        self.host = self.daemon.host

    def docker(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return _run("docker", "-H", self.host, *args, check=check)

    def make_namespace(self) -> None:
        veth = f"{self.cluster.token}v{self.index}"
        _run("ip", "netns", "add", self.netns)
        self.cluster.made.append(("netns", self.netns))
        _run("ip", "link", "add", veth, "type", "veth", "peer", "name", f"{veth}p")
        self.cluster.made.append(("link", veth))
        _run("ip", "link", "set", f"{veth}p", "netns", self.netns)
        _run("ip", "-n", self.netns, "link", "set", f"{veth}p", "name", "eth0")
        _run("ip", "-n", self.netns, "addr", "add", f"{self.address}/24", "dev", "eth0")
        _run("ip", "-n", self.netns, "link", "set", "eth0", "up")
        _run("ip", "-n", self.netns, "link", "set", "lo", "up")
        _run("ip", "link", "set", veth, "master", self.cluster.bridge)
        _run("ip", "link", "set", veth, "up")

    def start(self) -> None:
        self.daemon.start()

    def running(self) -> bool:
        return self.daemon.running()

    def stop(self, timeout: float = 60) -> None:
        """Stop the engine as an operator would (SIGTERM: it stops its containers), killed if it hangs."""
        self.daemon.stop(timeout)

    def remove(self) -> None:
        self.daemon.stop()
        # anything still running in the namespace (containerd, shims) ends with it
        for pid in _run("ip", "netns", "pids", self.netns, check=False).stdout.split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        self.daemon.remove()


class Cluster:
    """Build with `start()`; `close()` always (it removes whatever was made, in reverse)."""

    def __init__(self, work: Path, registry_port: int) -> None:
        n = os.getpid() % 200 + 20
        self.work = work
        self.token = f"calvsw{n}"
        self.prefix = f"10.231.{n}"
        self.bridge = self.token
        self.registry_address = f"{self.prefix}.1:{registry_port}"
        self.made: list[tuple[str, str]] = []
        self.nodes = [Node(self, 1), Node(self, 2)]

    def start(self) -> None:
        _run("ip", "link", "add", self.bridge, "type", "bridge")
        self.made.append(("link", self.bridge))
        _run("ip", "addr", "add", f"{self.prefix}.1/24", "dev", self.bridge)
        _run("ip", "link", "set", self.bridge, "up")
        if shutil.which("iptables") is not None:
            # the host's engine drops forwarded traffic by default, also between ports of one bridge
            rule = ("FORWARD", "-i", self.bridge, "-o", self.bridge, "-j", "ACCEPT")
            if _run("iptables", "-I", *rule, check=False).returncode == 0:
                self.made.append(("iptables", " ".join(rule)))
        for node in self.nodes:
            node.make_namespace()
            node.start()
        manager, worker = self.nodes
        manager.docker("swarm", "init", "--advertise-addr", manager.address, "--listen-addr",
                       f"{manager.address}:2377")
        token = manager.docker("swarm", "join-token", "-q", "worker").stdout.strip()
        worker.docker("swarm", "join", "--token", token, "--advertise-addr", worker.address,
                      f"{manager.address}:2377")
        deadline = time.monotonic() + 60
        while self.ready_nodes() < 2:
            if time.monotonic() > deadline:
                raise RuntimeError(f"node-2 did not become ready: {manager.docker('node', 'ls').stdout}")
            time.sleep(0.5)

    def ready_nodes(self) -> int:
        listing = self.nodes[0].docker("node", "ls", "--format", "{{.Status}}", check=False).stdout.split()
        return listing.count("Ready")

    def node_id(self, node: Node) -> str:
        return node.docker("info", "--format", "{{.Swarm.NodeID}}").stdout.strip()

    def close(self) -> None:
        for node in reversed(self.nodes):
            if node.running():
                node.docker("swarm", "leave", "--force", check=False)
            node.remove()
        for kind, name in reversed(self.made):
            if kind == "netns":
                _run("ip", "netns", "del", name, check=False)
            elif kind == "iptables":
                _run("iptables", "-D", *name.split(), check=False)
            else:
                _run("ip", "link", "del", name, check=False)
        self.made.clear()
