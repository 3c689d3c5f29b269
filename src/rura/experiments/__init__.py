"""Experiments over the stages: comparisons of backbones and clusterers."""
