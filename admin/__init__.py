"""Akira's admin plane: the operators' UI and JSON API, the CLI, the publisher and the rater."""
