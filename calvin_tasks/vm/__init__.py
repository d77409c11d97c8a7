"""VM images: the same resources as virtual machine disks.

    disk.py     a root file system → a bootable qcow2 disk with its kernel and initrd (direct kernel boot)
    machine.py  a disk booted under QEMU, bounded, reached over SSH with a per-boot key, always killed
    checks.py   tests.yaml's check kinds read in a booted guest
    suite.py    one boot, every check
"""
