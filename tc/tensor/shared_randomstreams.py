"""Theano's import path: `from theano.tensor.shared_randomstreams import RandomStreams`."""

from tc.random import RandomStreams

__all__ = ["RandomStreams"]
