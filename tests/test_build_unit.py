"""The build context's Dockerfile: every stage marked, so an abandoned build's step containers are found."""
from __future__ import annotations

from calvin_tasks.build import BUILDING_LABEL, _marked


def test_every_stage_is_marked_right_after_its_from() -> None:
    text = _marked(b"ARG BASE_IMAGE\nFROM ${BASE_IMAGE} AS a\nRUN x \\\n  FROM y\nfrom scratch\nCOPY --from=a /x /x").decode()
    lines = text.splitlines()
    assert lines == ["ARG BASE_IMAGE", "FROM ${BASE_IMAGE} AS a", f"LABEL {BUILDING_LABEL}=1", "RUN x \\", "  FROM y",
                     "from scratch", f"LABEL {BUILDING_LABEL}=1", "COPY --from=a /x /x"]
