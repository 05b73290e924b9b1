"""`tc.printing`: Theano's graph printers (implemented in frontend/debugprint.py)."""

from .frontend.debugprint import debugprint

__all__ = ["debugprint"]
