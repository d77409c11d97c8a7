"""What one smoke check costs on a tiny image: a `command` check and a `service` check.

    python -m bench.smoke [--runs 5]

Builds one FROM scratch + static busybox resource, then runs its tests `--runs` times
(`doit -a test:<name>`), each time with 10 command checks and 10 service checks (busybox
httpd answering GET /). The per-check time is read from Calvin's own JSON report, which
times each check from container creation to removal; the median over all runs is printed.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.generate import doit_table

BUSYBOX = Path("/bin/busybox")
CHECKS = 10


def project(root: Path, namespace: str) -> Path:
    folder = root / "resources" / "tiny"
    folder.mkdir(parents=True)
    shutil.copy2(BUSYBOX, folder / "busybox")
    (folder / "resource.yaml").write_text("description: tiny smoke-test subject\ngroup: base\nversion: 1.0.0\n")
    (folder / "Dockerfile").write_text(f'FROM scratch\nCOPY busybox /bin/busybox\nLABEL salt="{namespace}"\n'
                                       'RUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
                                       "RUN mkdir -p /www && echo hello > /www/index.html\n")
    commands = "".join(f'  - name: command {i}\n    run: [sh, -c, "echo hello {i}"]\n    stdout: "^hello {i}$"\n'
                       for i in range(CHECKS))
    services = "".join(f"  - name: service {i}\n    command: [httpd, -f, -p, '8080', -h, /www]\n    port: 8080\n"
                       f"    http: {{path: /, status: 200, body: hello}}\n" for i in range(CHECKS))
    (folder / "tests.yaml").write_text(f"commands:\n{commands}services:\n{services}")
    (root / "dodo.py").write_text("from calvin_tasks.tasks import *  # noqa: F401,F403\n")
    (root / "pyproject.toml").write_text(doit_table())
    (root / "configs").mkdir()
    (root / "configs" / "pipeline.yaml").write_text(f"namespace: {namespace}\nbuild: {{network: host}}\n")
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    namespace = f"calvin-smoke-bench-{secrets.token_hex(3)}"
    root = project(Path(tempfile.mkdtemp(prefix="calvin-smoke-bench-")), namespace)
    env = dict(os.environ, CALVIN_NAMESPACE=namespace)
    doit = [sys.executable, "-m", "doit"]
    try:
        subprocess.run([*doit, "build:tiny"], cwd=root, env=env, check=True, capture_output=True)
        times: dict[str, list[float]] = {"command": [], "service": []}
        for _ in range(args.runs):
            subprocess.run([*doit, "-a", "test:tiny"], cwd=root, env=env, check=True, capture_output=True)
            report = json.loads((root / "out" / "reports" / "tiny.json").read_text())
            for check in report["checks"]:
                times[check["kind"]].append(check["seconds"])
        for kind, values in times.items():
            print(f"{kind:>8} check: median {statistics.median(values):.3f} s, "
                  f"min {min(values):.3f} s, max {max(values):.3f} s over {len(values)} checks")
    finally:
        listed = subprocess.run(["docker", "images", "--format", "{{.Repository}}:{{.Tag}}"],
                                capture_output=True, text=True).stdout.split()
        ours = [tag for tag in listed if tag.startswith(f"{namespace}/")]
        if ours:
            subprocess.run(["docker", "rmi", "-f", *ours], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
