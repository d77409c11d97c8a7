"""What a schema cannot say about VM resources (vmroot, packer), with file:line."""
from __future__ import annotations

import os
from typing import Any, Callable, Mapping

from ..errors import Problem
from ..model import VM_BUILDERS, KeyPath, Resource
from ..source import YamlDocument, dotted

CONTAINER_KEYS = ("dockerfile", "args", "image")
VM_ONLY = ("users", "listening", "units")
VM_METADATA = (*VM_ONLY, "labels")


def check_vm(resource: Resource, doc: YamlDocument) -> list[Problem]:
    """The rules of one vmroot or packer resource."""
    problems: list[Problem] = []
    build: dict[str, Any] = doc.data.get("build") or {}

    def problem(key_path: KeyPath, message: str, hint: str) -> None:
        problems.append(Problem(doc.display, message, line=doc.line_of(key_path), resource=resource.name,
                                key_path=dotted(key_path) or None, hint=hint))

    builder = resource.build.builder
    for key in CONTAINER_KEYS:
        if key in build:
            problem(("build", key), f"build.{key} belongs to container builders, not to {builder}", "remove it")
    if builder == "vmroot":
        if not resource.build.command:
            problem(("build",), "the vmroot builder needs build.command",
                    "give the command that writes the root file-system tarball to $CALVIN_ROOTFS")
        if resource.base is not None:
            problem(("base",), "a vmroot resource is a root: it cannot have a base", "remove base, or use packer")
        for key in ("template", "variables"):
            if key in build:
                problem(("build", key), f"build.{key} belongs to the packer builder", "remove it")
    else:
        if resource.base is None:
            problem(("build", "builder"), "a packer resource builds on its parent's disk: it needs a base",
                    "set base: to a VM resource (e.g. vm-base-linux)")
        for key in ("command", "size"):
            if key in build:
                problem(("build", key), f"build.{key} belongs to the vmroot builder", "remove it")
        problems.extend(_check_template(resource, doc))
    return problems + check_kinds(resource, doc)


def check_kinds(resource: Resource, doc: YamlDocument) -> list[Problem]:
    """Checks that ask what only the other kind has: pytest files or image metadata for a VM, VM facts
    for a container image."""
    problems: list[Problem] = []
    vm = resource.build.builder in VM_BUILDERS
    for check in resource.checks:
        if check.kind == "metadata" and not vm and check.spec["key"] in VM_ONLY:
            problems.append(Problem(_tests_display(resource, doc), f"metadata {check.spec['key']} describes "
                                    "a VM", line=check.line, resource=resource.name,
                                    hint="a container image's users, ports and services are checked by commands"))
        if not vm:
            continue
        if check.kind == "pytest":
            problems.append(Problem(doc.display, "test_*.py files are run against container images, not VM disks",
                                    line=1, resource=resource.name, hint="write them as tests.yaml commands"))
        if check.kind == "metadata" and check.spec["key"] not in VM_METADATA:
            problems.append(Problem(_tests_display(resource, doc), f"metadata {check.spec['key']} describes a "
                                    "container image", line=check.line, resource=resource.name,
                                    hint=f"a VM's metadata keys are {', '.join(VM_METADATA)}"))
    return problems


def _tests_display(resource: Resource, doc: YamlDocument) -> str:
    return os.path.join(os.path.dirname(doc.display), resource.tests.name) if resource.tests else doc.display


def _check_template(resource: Resource, doc: YamlDocument) -> list[Problem]:
    path = resource.folder / resource.build.template
    key_path: KeyPath = ("build", "template") if "template" in (doc.data.get("build") or {}) else ("build",)
    where = doc.line_of(key_path)
    relative = os.path.relpath(os.path.abspath(path), os.path.abspath(resource.folder))
    if relative.startswith(".."):
        return [Problem(doc.display, f"the Packer template '{resource.build.template}' is outside the resource folder",
                        line=where, resource=resource.name, hint="keep every build input inside resources/<name>/")]
    if not path.is_file():
        return [Problem(doc.display, f"missing Packer template '{resource.build.template}'", line=where,
                        resource=resource.name, hint="create it, or set build.template")]
    display = os.path.join(os.path.dirname(doc.display), resource.build.template)
    from .template import load_template  # a packer resource's template, read only where there is one

    return load_template(path, display, resource.name)[1]


def check_vm_bases(resources: Mapping[str, Resource], display: Callable[[Resource], str]) -> list[Problem]:
    """A VM resource builds on a VM resource, a container resource on a container resource."""
    problems = []
    for resource in resources.values():
        parent = resources.get(resource.base) if resource.base else None
        if parent is None or (parent.build.builder in VM_BUILDERS) == (resource.build.builder in VM_BUILDERS):
            continue
        problems.append(Problem(display(resource), f"base '{parent.name}' is a {parent.kind} resource, "
                                f"'{resource.name}' a {resource.kind} one", line=resource.line_of("base"),
                                resource=resource.name, key_path="base",
                                hint="a VM disk builds on a VM disk, an image on an image"))
    return problems
