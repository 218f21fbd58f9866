"""ALPS module logic on MRML nodes (no qt): what the widget and the batch script call."""

from ALPSLib.logic import AlpsNodeLogic, AlpsOptions, AlpsOutputs

__all__ = ["AlpsNodeLogic", "AlpsOptions", "AlpsOutputs"]
