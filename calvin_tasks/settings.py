"""Pipeline settings: configs/pipeline.yaml, overridden by CALVIN_* variables."""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Mapping

from .errors import InputError, Problem
from .model import Settings
from .source import load_yaml
from .schema import SchemaCache, check_schema

PIPELINE_FILE = Path("configs") / "pipeline.yaml"
_NAMESPACE = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
_REGISTRY = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]+)?$")


def load_settings(root: Path, environ: Mapping[str, str] | None = None,
                  cache: SchemaCache | None = None) -> Settings:
    """Read configs/pipeline.yaml (optional) and apply CALVIN_NAMESPACE, CALVIN_REGISTRY,
    CALVIN_BUILD_NETWORK and CALVIN_OUTPUT."""
    env = os.environ if environ is None else environ
    path = root / PIPELINE_FILE
    data: dict[str, Any] = {}
    if path.is_file():
        document = load_yaml(path, PIPELINE_FILE.as_posix())
        problems = check_schema(document, "pipeline.schema.json", cache=cache) if document.data is not None else []
        if problems:
            raise InputError(problems)
        data = document.data or {}
    smoke = data.get("smoke") or {}
    namespace = env.get("CALVIN_NAMESPACE") or data.get("namespace") or "calvin"
    registry = env.get("CALVIN_REGISTRY", data.get("registry")) or None
    network = env.get("CALVIN_BUILD_NETWORK", (data.get("build") or {}).get("network")) or None
    problems = []
    if not _NAMESPACE.match(namespace):
        problems.append(Problem("CALVIN_NAMESPACE", f"'{namespace}' is not a valid namespace",
                                hint="lower-case letters and digits, separated by '.', '_' or '-'"))
    if registry and not _REGISTRY.match(registry):
        problems.append(Problem("CALVIN_REGISTRY", f"'{registry}' is not a registry address",
                                hint="host[:port], e.g. 127.0.0.1:5000"))
    if problems:
        raise InputError(problems)
    return Settings(
        root=root,
        namespace=namespace,
        registry=registry,
        build_network=network,
        output=root / (env.get("CALVIN_OUTPUT") or data.get("output") or "out"),
        test_memory=str(smoke.get("memory", "256m")),
        test_pids=int(smoke.get("pids", 256)),
        test_timeout=float(smoke.get("timeout", 60)),
        source=path if path.is_file() else None,
        bump_cascade=(data.get("bump") or {}).get("cascade", "none") == "patch",
        lock_wait=float(env.get("CALVIN_LOCK_WAIT") or (data.get("run") or {}).get("lock_wait", 600)),
        registry_timeout=float((data.get("run") or {}).get("registry_timeout", 30)),
    )
