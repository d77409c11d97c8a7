"""plan.release_status: a release judged by digests — the cases a label cannot tell apart."""
from __future__ import annotations

import pytest

from calvin_tasks.plan import release_status
from calvin_tasks.store import Released, Shelf

F, OLD = "f" * 64, "0" * 64
A, B, C = "sha256:" + "a" * 64, "sha256:" + "b" * 64, "sha256:" + "c" * 64


def rel(digest: str, fingerprint: str | None = F) -> Released:
    return Released("ns/r:tag", fingerprint, digest, digest)


@pytest.mark.parametrize("shelf, status", [
    (Shelf(None, None, None), "unreleased"),
    (Shelf(None, rel(A), rel(A)), "unreleased"),
    (Shelf(rel(A), rel(A), rel(A)), "released"),
    (Shelf(rel(A), rel(A), None), "unmarked"),
    (Shelf(rel(A), rel(A), rel(B)), "unmarked"),           # the tested mark names another build
    (Shelf(rel(B, OLD), None, None, older=rel(B, OLD)), "not-bumped"),  # a genuine release of other content
    (Shelf(rel(B), rel(A), rel(A)), "moved"),              # same label, another digest: built FROM the release
    (Shelf(rel(C, OLD), None, None, older=rel(B, OLD)), "moved"),  # claims the old release, is not it
    (Shelf(rel(C, None), rel(A), rel(A)), "moved"),        # no label at all
    (Shelf(rel(A), None, None), "moved"),                  # claims these inputs, no content tag to prove it
    (Shelf(rel(A), rel(B), rel(A)), "released"),           # a forced rebuild moved the content tag: still ours
    (Shelf(rel(A), None, rel(A)), "released"),             # the content tag removed: the tested mark proves it
], ids=lambda v: v if isinstance(v, str) else "")
def test_release_status_follows_digests(shelf: Shelf, status: str) -> None:
    assert release_status(shelf, F)[0] == status


def test_this_machines_record_proves_a_release() -> None:
    assert release_status(Shelf(rel(A), rel(B), None), F, recorded=A)[0] == "unmarked"
    assert release_status(Shelf(rel(A), rel(B), None), F, recorded=C)[0] == "moved"


def test_a_moved_tag_names_both_digests() -> None:
    status, why = release_status(Shelf(rel(B), rel(A), rel(A)), F)
    assert status == "moved"
    assert why.startswith(f"now points at {B} which Calvin did not release; the release was {A}")
    # the ledger of this machine knows better than the registry's other tags
    assert f"the release was {C}" in release_status(Shelf(rel(B), rel(A), rel(A)), F, recorded=C)[1]
    assert "not recorded on this machine" in release_status(Shelf(rel(B, None), None, None), F)[1]
