"""Vein module logic on MRML nodes (no qt): what the widget and the batch script call."""

from VeinLib.logic import VeinNodeLogic, VeinOptions, VeinOutputs, centreline_curves, install_plan

__all__ = ["VeinNodeLogic", "VeinOptions", "VeinOutputs", "centreline_curves", "install_plan"]
