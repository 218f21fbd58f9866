"""Training glymph's own networks (``glymph train ...``), on top of the domain packages and the
phantoms that make their training data. Nothing imports this package but the command line."""
