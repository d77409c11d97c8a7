"""Debian package sets of images: locks, inventories, the mirror, SBOMs and diffs.

    lock.py       packages.lock beside a resource: read, write, compare with an image
    inventory.py  an image's real package set (its dpkg status file, read without running it)
    mirror.py     the newest versions Debian's mirror serves (bookworm, -updates, -security)
    refresh.py    pending updates per resource; --apply rewrites locks and bumps versions
    sbom.py       CycloneDX SBOM of a released image, validated; its digest
    diff.py       packages added, removed and changed between two package sets
    facts.py      the manifest's package facts per version, read from the SBOMs only when they change
"""
