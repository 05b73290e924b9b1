"""The seed tutorial on tc: Theano's examples with only the import lines changed.

python examples/tutorial.py
"""

# 01: a scalar function, compiled to native code
from tc import function
from tc import tensor as T

x = T.dscalar("x")
f = function([x], T.sin(T.deg2rad(x)) ** 2 + T.cos(T.deg2rad(x)) ** 2)
print(f(0), f(30), f(45), f(60), f(90))  # each 1.0, as Theano printed
