"""The seed tutorial on tc: Theano's examples with only the import lines changed.

python examples/tutorial.py
"""

import numpy as np

# 01: a scalar function, compiled to native code
from tc import function, shared
from tc import tensor as T
from tc.tensor.shared_randomstreams import RandomStreams

x = T.dscalar("x")
f = function([x], T.sin(T.deg2rad(x)) ** 2 + T.cos(T.deg2rad(x)) ** 2)
print(f(0), f(30), f(45), f(60), f(90))  # each 1.0, as Theano printed

# 02: shared variables, updates and givens
state = shared(0)
inc = T.iscalar("inc")
accumulator = function([inc], state, updates=[(state, state + inc)])
decrementor = function([inc], state, updates=[(state, state - inc)])
print(accumulator(1), state.get_value())  # 0 1
print(accumulator(300), state.get_value())  # 1 301
print(decrementor(2), state.get_value())  # 301 299
state.set_value(-1)
print(accumulator(3), state.get_value())  # -1 2
fn_of_state = state * 2 + inc
foo = T.scalar(dtype=state.dtype)  # the same type as the value it replaces
skip_shared = function([inc, foo], fn_of_state, givens=[(state, foo)])
print(skip_shared(1, 3), state.get_value())  # 7 2: the shared value is untouched

# 03: random streams
srng = RandomStreams(seed=234)
rv_u = srng.uniform((2, 2))
rv_n = srng.normal((2, 2))
f = function([], rv_u)
g = function([], rv_n, no_default_updates=True)  # not updating rv_n's stream
nearly_zeros = function([], rv_u + rv_u - 2 * rv_u)
print(f())  # a new uniform matrix on every call
print(f())
print(g())  # the same normal matrix on every call
print(g())
print(np.allclose(nearly_zeros(), 0))  # True: one draw per call, however often it is used
srng.seed(7777)  # reseeds every stream
print(g())
