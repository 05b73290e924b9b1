"""`tc.printing`: Theano's graph printers (implemented in frontend/debugprint.py and frontend/pprint.py)."""

from .frontend.debugprint import debugprint
from .frontend.pprint import pp, pprint

__all__ = ["debugprint", "pp", "pprint"]
