"""Bounds of the grader: the default time bound, the size limits of the symbolic path (beyond
them an answer is compared as a normalised string only) and the exceptions the parser and the
evaluators raise.
"""
from __future__ import annotations


DEFAULT_TIMEOUT_S = 2.0


# size limits of the symbolic path (beyond them: normalised string comparison only)
MAX_ANSWER_CHARS = 2000
MAX_TOKENS = 600
MAX_DEPTH = 40            # bracket / recursion depth
MAX_EXACT_BITS = 200_000  # bit length of exact numerators/denominators
MAX_FACTORIAL = 3000
MAX_LOG2 = 1 << 20        # |log2| of any floating value
MAX_NUMBER_DIGITS = 1000
MAX_SYMBOLS = 12
MAX_SET_SIZE = 64


class NotMath(Exception):
    """The parser does not understand the answer; it is compared as a string."""


class Undefined(Exception):
    """Evaluation undefined at a point (division by zero, pole, overflow guard...)."""


class NotReal(Undefined):
    """A real-only operation (floor, ceil, max, min) reached a non-real value: the expression is
    not defined on the reals at this point (the identity test's domain rule counts it)."""


class Deadline(Exception):
    pass
