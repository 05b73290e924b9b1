"""`tc.ifelse`: where Theano code finds `ifelse` (`theano.ifelse.ifelse`).

from tc.ifelse import ifelse
z = ifelse(T.lt(a, b), T.mean(x), T.mean(y))  # computes one mean, never both
"""

from tc.frontend.ifelse import ifelse

__all__ = ["ifelse"]
