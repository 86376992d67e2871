"""GxP Bridge: training compliance beside an existing LMS."""

__version__ = "0.1.0"
