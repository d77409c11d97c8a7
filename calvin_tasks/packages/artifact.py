"""An SBOM pushed to the registry next to its image: an OCI artifact (a manifest with Calvin's own
config media type and the CycloneDX document as its one layer) tagged `sbom-<content fingerprint>`,
over Distribution's HTTP API with the registry's login (pushes of image data go through the engine;
this document is not an image)."""
from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.parse
import urllib.request

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


def _request(registry: Registry, method: str, url: str, body: bytes | None = None,
             content_type: str | None = None) -> tuple[int, dict[str, str]]:
    if url.startswith("/"):
        url = registry.base + url
    request = urllib.request.Request(url, data=body, method=method)
    if registry.credentials is not None:
        request.add_header("Authorization", registry.credentials.header())
    if content_type:
        request.add_header("Content-Type", content_type)
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
    status, _ = _request(registry, "HEAD", f"/v2/{repository}/blobs/{digest}")
    if status == 200:
        return digest
    status, headers = _request(registry, "POST", f"/v2/{repository}/blobs/uploads/", b"")
    location = next((v for k, v in headers.items() if k.lower() == "location"), "")
    if status != 202 or not location:
        raise RegistryUnavailable(f"the registry at {registry.address} did not start an upload ({status})")
    location = urllib.parse.urljoin(registry.base + "/", location)
    separator = "&" if "?" in location else "?"
    status, _ = _request(registry, "PUT", f"{location}{separator}digest={urllib.parse.quote(digest)}", blob,
                         "application/octet-stream")
    if status != 201:
        raise RegistryUnavailable(f"the registry at {registry.address} refused a blob upload ({status})")
    return digest


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
    status, _ = _request(registry, "PUT", f"/v2/{repository}/manifests/{tag}", body, OCI_MANIFEST)
    if status != 201:
        raise RegistryUnavailable(f"the registry at {registry.address} refused the SBOM manifest {repository}:{tag} "
                                  f"({status})")
    return _digest(body)
