# Stand-in for Slicer's extension config and packaging includes: nothing to do here.
