"""`tc.scan_module`: where Theano code finds `scan` and `until` (`theano.scan_module`)."""

from tc.frontend.scan import scan, until

__all__ = ["scan", "until"]
