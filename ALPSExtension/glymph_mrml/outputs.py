"""Result nodes a module logic fills: reused when given, created (and remembered) when not."""

from __future__ import annotations

from collections.abc import Callable


def fill(node, make: Callable, created: list[str]):
    """``make(node)`` fills ``node``, or a new node when ``node`` is None; a new node's ID goes into ``created``."""
    result = make(node)
    if node is None:
        created.append(result.GetID())
    return result
