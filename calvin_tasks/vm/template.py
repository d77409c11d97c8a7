"""A `packer` resource's template (Packer 1.6 JSON): read and judged before anything is built.

Calvin's contract with a template: a `qemu` builder that starts from the parent's disk
(`iso_url` is `{{user `base_image`}}`, `disk_image: true`) and writes a disk (`format: qcow2`).
Calvin sets, of the variables the template declares, the ones it knows (CALVIN_VARIABLES).
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ..errors import Problem

BASE_VARIABLE = "base_image"
CALVIN_VARIABLES = ("base_image", "base_kernel", "base_initrd", "kernel_args", "accelerator", "output_directory",
                    "ssh_private_key_file", "ssh_public_key_file", "vm_name", "memory", "cpus")
USES_BASE = re.compile(r"\{\{\s*user\s+`base_image`\s*\}\}")


def line_of(text: str, needle: str) -> int:
    """The line where `needle` first appears (1 if nowhere): JSON keeps no line table."""
    index = text.find(needle)
    return text.count("\n", 0, index) + 1 if index >= 0 else 1


def load_template(path: Path, display: str, resource: str) -> tuple[dict[str, Any] | None, list[Problem]]:
    try:
        text = path.read_text()
    except OSError as err:
        return None, [Problem(display, f"cannot read the Packer template: {err.strerror}", line=1, resource=resource,
                              hint="build.template names a JSON file in the resource folder")]
    try:
        data = json.loads(text)
    except ValueError as err:
        line = getattr(err, "lineno", 1)
        return None, [Problem(display, f"the Packer template is not JSON: {getattr(err, 'msg', err)}", line=line,
                              resource=resource, hint="Calvin reads Packer's JSON templates (Packer 1.6), not HCL")]
    if not isinstance(data, dict):
        return None, [Problem(display, "the Packer template is not a JSON object", line=1, resource=resource)]
    return data, check_template(data, text, display, resource)


def check_template(data: dict[str, Any], text: str, display: str, resource: str) -> list[Problem]:
    problems: list[Problem] = []
    builders = [b for b in data.get("builders") or [] if isinstance(b, dict)]
    qemu = [b for b in builders if b.get("type") == "qemu"]
    if not qemu:
        types = ", ".join(str(b.get("type")) for b in builders) or "none"
        return [Problem(display, f"the Packer template has no qemu builder (builders: {types})",
                        line=line_of(text, '"builders"'), resource=resource,
                        hint='Calvin builds VM children with {"type": "qemu", ...}; retarget other hypervisors '
                             "after Calvin has tested the disk")]
    builder = qemu[0]
    variables = data.get("variables") if isinstance(data.get("variables"), dict) else {}
    if BASE_VARIABLE not in (variables or {}) or not USES_BASE.search(str(builder.get("iso_url", ""))):
        problems.append(Problem(display, "the qemu builder ignores base_image: the child would not start from its "
                                         "parent's disk", line=line_of(text, '"iso_url"') if "iso_url" in builder
                                else line_of(text, '"qemu"'), resource=resource,
                                hint='declare "variables": {"base_image": ""} and set "iso_url": '
                                     '"{{user `base_image`}}", "disk_image": true'))
    elif builder.get("disk_image") is not True:
        problems.append(Problem(display, "the qemu builder must set \"disk_image\": true to start from base_image",
                                line=line_of(text, '"iso_url"'), resource=resource))
    if builder.get("format", "qcow2") != "qcow2":
        problems.append(Problem(display, f"the qemu builder's output is not a qcow2 disk (format: "
                                         f"{builder.get('format')!r})", line=line_of(text, '"format"'),
                                resource=resource, hint='"format": "qcow2"; convert for other hypervisors later'))
    if data.get("post-processors"):
        problems.append(Problem(display, "the template's post-processors turn the disk into something else: "
                                         "Calvin collects the qemu builder's disk", resource=resource,
                                line=line_of(text, '"post-processors"'),
                                hint="remove them; convert or box the disk after Calvin released it"))
    return problems
