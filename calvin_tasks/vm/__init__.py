"""VM images: the same resources as virtual machine disks.

    disk.py     a root file system → a bootable qcow2 disk with its kernel and initrd (direct kernel boot)
    machine.py  a disk booted under QEMU, bounded, reached over SSH with a per-boot key, always killed
    checks.py   tests.yaml's check kinds read in a booted guest
    suite.py    one boot, every check
    image.py    a disk kept in the engine as an image ("container disk")
    artifact.py a disk in the registry as an OCI artifact of its own (media types, push, pull)
"""
