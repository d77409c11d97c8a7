"""An SBOM pushed to the registry next to its image: an OCI artifact (a manifest with Calvin's own
config media type and the CycloneDX document as its one layer) tagged `sbom-<content fingerprint>`,
over Distribution's HTTP API with the registry's login (pushes of image data go through the engine;
this document is not an image). The blob and manifest calls are shared with VM disks (vm/artifact.py)."""
from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import BinaryIO

from ..errors import RegistryUnavailable
from ..registry import Registry

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG_TYPE = "application/vnd.calvin.sbom.config.v1+json"
SBOM_TYPE = "application/vnd.cyclonedx+json"
TIMEOUT = 30.0


def sbom_tag(content_tag: str) -> str:
    """fp-<hex> → sbom-<hex>: the image's content tag, for its SBOM."""
    return "sbom-" + content_tag.split("-", 1)[-1]


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _request(registry: Registry, method: str, url: str, body: bytes | BinaryIO | None = None,
             content_type: str | None = None, length: int | None = None) -> tuple[int, dict[str, str]]:
    """One request to the registry (a file as `body` is streamed: give its `length`)."""
    if url.startswith("/"):
        url = registry.base + url
    request = urllib.request.Request(url, data=body, method=method)
    if registry.credentials is not None:
        request.add_unredirected_header("Authorization", registry.credentials.header())  # not to a redirect
    if content_type:
        request.add_header("Content-Type", content_type)
    if length is not None:
        request.add_header("Content-Length", str(length))
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:  # noqa: S310 - the registry's own URL
            return answer.status, dict(answer.headers)
    except urllib.error.HTTPError as err:
        if err.code == 401:
            who = f"the login of '{registry.credentials.user}'" if registry.credentials else "no login"
            raise RegistryUnavailable(f"the registry at {registry.address} refused {who} for {method} {url}: "
                                      f"docker login {registry.address}") from None
        return err.code, dict(err.headers)
    except OSError as err:
        raise RegistryUnavailable(f"cannot reach the registry at {registry.address} ({method} {url}): {err}") from None


def _upload(registry: Registry, repository: str, blob: bytes) -> str:
    digest = _digest(blob)
    if not has_blob(registry, repository, digest):
        put_blob(registry, repository, digest, blob, len(blob))
    return digest


def has_blob(registry: Registry, repository: str, digest: str) -> bool:
    return _request(registry, "HEAD", f"/v2/{repository}/blobs/{digest}")[0] == 200


def mount_blob(registry: Registry, repository: str, digest: str, source: str) -> bool:
    """Link a blob `source` holds into `repository`, sending no data (a child's kernel and initrd are
    its parent's); False when the registry will not (it opened an upload instead: cancelled)."""
    status, headers = _request(registry, "POST", f"/v2/{repository}/blobs/uploads/?mount="
                               f"{urllib.parse.quote(digest)}&from={urllib.parse.quote(source)}", b"")
    location = next((v for k, v in headers.items() if k.lower() == "location"), "")
    if status == 202 and location:
        _request(registry, "DELETE", urllib.parse.urljoin(registry.base + "/", location))
    return status == 201


def put_blob(registry: Registry, repository: str, digest: str, body: bytes | BinaryIO, size: int) -> None:
    """A monolithic upload (POST, then PUT with the digest, which the registry checks against what it
    received); the answer's digest is checked too."""
    status, headers = _request(registry, "POST", f"/v2/{repository}/blobs/uploads/", b"")
    location = next((v for k, v in headers.items() if k.lower() == "location"), "")
    if status != 202 or not location:
        raise RegistryUnavailable(f"the registry at {registry.address} did not start an upload ({status})")
    location = urllib.parse.urljoin(registry.base + "/", location)
    separator = "&" if "?" in location else "?"
    status, headers = _request(registry, "PUT", f"{location}{separator}digest={urllib.parse.quote(digest)}", body,
                               "application/octet-stream", size)
    stored = next((v for k, v in headers.items() if k.lower() == "docker-content-digest"), digest)
    if status != 201 or stored != digest:
        raise RegistryUnavailable(f"the registry at {registry.address} refused a blob upload of {digest[:19]} "
                                  f"to {repository} ({status}{', stored as ' + stored if stored != digest else ''})")


def put_manifest(registry: Registry, repository: str, tag: str, body: bytes, media_type: str = OCI_MANIFEST) -> str:
    """PUT a manifest under `tag`; returns its digest (the registry's answer, checked against ours)."""
    status, headers = _request(registry, "PUT", f"/v2/{repository}/manifests/{tag}", body, media_type)
    stored = next((v for k, v in headers.items() if k.lower() == "docker-content-digest"), _digest(body))
    if status != 201 or stored != _digest(body):
        raise RegistryUnavailable(f"the registry at {registry.address} refused the manifest {repository}:{tag} "
                                  f"({status})")
    return stored


def get_blob(registry: Registry, repository: str, digest: str, target: BinaryIO) -> int:
    """Stream a blob into `target`, checked against its digest; returns its size."""
    request = urllib.request.Request(f"{registry.base}/v2/{repository}/blobs/{digest}")
    if registry.credentials is not None:
        request.add_unredirected_header("Authorization", registry.credentials.header())  # not to a redirect
    hasher, size = hashlib.sha256(), 0
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:  # noqa: S310 - the registry's own URL
            while chunk := answer.read(1 << 20):
                hasher.update(chunk)
                target.write(chunk)
                size += len(chunk)
    except urllib.error.HTTPError as err:
        raise RegistryUnavailable(f"the registry at {registry.address} answered {err.code} for the blob "
                                  f"{digest[:19]} of {repository}") from None
    except OSError as err:
        raise RegistryUnavailable(f"cannot reach the registry at {registry.address} (blob {digest[:19]}): "
                                  f"{err}") from None
    if "sha256:" + hasher.hexdigest() != digest:
        raise RegistryUnavailable(f"the blob {digest[:19]} of {repository} arrived with another digest "
                                  f"(sha256:{hasher.hexdigest()[:12]})")
    return size


def push_sbom(registry: Registry, repository: str, tag: str, document: bytes) -> str:
    """Push the SBOM as repository:tag; returns the artifact's manifest digest."""
    config = b"{}"
    manifest = {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": CONFIG_TYPE, "digest": _upload(registry, repository, config), "size": len(config)},
        "layers": [{"mediaType": SBOM_TYPE, "digest": _upload(registry, repository, document),
                    "size": len(document)}],
        "annotations": {"org.opencontainers.image.title": "sbom.cdx.json"},
    }
    body = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
    return put_manifest(registry, repository, tag, body)
