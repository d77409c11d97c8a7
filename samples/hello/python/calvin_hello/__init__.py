"""calvin-hello: a tiny pure-Python package, Calvin's sample project."""

__version__ = "1.0.0"


def greet(name: str | None = None) -> str:
    """'hello, NAME!' — the world when no name is given, like libhello's hello_greet."""
    return f"hello, {name or 'world'}!"
