"""tc: a tensor compiler in the spirit of Theano."""
