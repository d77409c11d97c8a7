"""Calvin: a repository of resource folders in; released, tested, immutable images out."""

__version__ = "0.1.0"
