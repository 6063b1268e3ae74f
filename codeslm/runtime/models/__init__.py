"""Known models, verified model files, and where to get them."""
