"""Drafty Bird: a flappy-style browser game built to be operated."""

__version__ = "0.1.0"
