"""`tc.scan_module`: where Theano code finds `scan` (`theano.scan_module.scan`)."""

from tc.frontend.scan import scan

__all__ = ["scan"]
