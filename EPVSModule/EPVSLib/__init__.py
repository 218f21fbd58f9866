"""EPVS module logic on MRML nodes (no qt): what the widget and the batch script call."""

from EPVSLib.logic import EpvsNodeLogic, EpvsOptions, EpvsOutputs, install_plan

__all__ = ["EpvsNodeLogic", "EpvsOptions", "EpvsOutputs", "install_plan"]
