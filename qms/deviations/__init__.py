"""Deviations and their training adequacy assessments."""
