"""Interchangeable implementations of one step, known by name and imported on first use.

A registry maps each method's name to where it lives (``"package.module:function"``), so the
command line and the Slicer panels list the same names without importing numpy or torch, and a
method that is planned but not shipped is refused with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import import_module

from glymph.errors import GlymphError


@dataclass(frozen=True)
class MethodRegistry:
    """The methods of one step (``step``, e.g. "EPVS segmentation"), in the order they are listed."""

    step: str
    methods: dict[str, str]  # name -> "package.module:function"
    planned: dict[str, str] = field(default_factory=dict)  # name -> why it is not available yet
    networks: tuple[str, ...] = ()  # the methods that run a network (panels run them in a process of their own)

    @property
    def names(self) -> tuple[str, ...]:
        """Names of the available methods (the first is listed first in a panel)."""
        return tuple(self.methods)

    def runs_network(self, name: str) -> bool:
        """Whether method ``name`` runs a network."""
        return name in self.networks

    def get(self, name: str) -> Callable:
        """The method called ``name``, or a GlymphError saying why it is missing and what exists."""
        if name not in self.methods:
            why = f" ({self.planned[name]})" if name in self.planned else ""
            raise GlymphError(f"{self.step} method '{name}' is not available{why}; available: {', '.join(self.names)}")
        module, function = self.methods[name].split(":")
        return getattr(import_module(module), function)
