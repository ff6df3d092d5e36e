"""Scores, the weekly digest and its chart."""
