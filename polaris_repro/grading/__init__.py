r"""Answer extraction and grading: the checker behind every reward and score in the package.

Public API
----------
``extract_answer(response)``
    content of the last ``\\boxed{...}`` / ``\\fbox{...}`` (balanced, nested braces allowed);
    ``None`` when there is no box or the last one is unclosed (truncated output).
``grade(response, ground_truth, *, require_think=False, mode="boxed") -> GradeResult``
    verdict plus the extracted answer, for logging.
``is_correct(response, ground_truth, *, require_think=False, mode="boxed") -> bool``
``equivalent(pred, truth) -> bool``
    equivalence of two answer strings (the rules below).
``canonical_answer(answer) -> str | None``
    a key under which equivalent answers usually coincide (majority voting).
``math_verify_correct(response, ground_truth) -> bool | None``
    math-verify's verdict as a second opinion, run in a separate bounded worker process.

Rules (a superset of what the POLARIS / DeepScaleR checker accepts, see reference §4):

* ``require_think=True`` is the POLARIS training rule: no ``</think>`` means wrong, and only the text
  between the first and the second ``</think>`` (usually: everything after it) is searched.
  ``False`` (evaluation) searches the whole response.
* ``mode="boxed_or_last_number"``: when there is no complete box, the last number of the searched
  text is the answer (for CPU-tier models that rarely box).
* MATH-style normalisation: ``\\text{}``/``\\mathrm{}`` wrappers, spaces, ``\\left``/``\\right``,
  ``^\\circ``/``^{\\circ}``, ``$``, ``%``, ``\\dfrac``/``\\tfrac``, ``\\frac12``, trailing units,
  a short ``x =`` (or ``f(x) =``) prefix, a trailing ``.``.
* Units are part of the value (:mod:`.units`): different dimensions never match, the same
  dimension after an exact conversion (``100\\text{ cm}`` = ``1\\text{ m}``); a bare number matches a
  ground truth with a unit, an answer's known unit is dropped against a bare ground truth.
* Values: numbers are exact rationals (``025`` = ``25``, ``142.0`` = ``142``, ``0.5`` = ``\\frac12``,
  ``4.5e33`` = ``4.5\\times10^{33}``); integers therefore match exactly, never within a tolerance.
* Expressions are compared by numeric identity testing: both sides are evaluated with mpmath at
  50 and 80 significant digits at the same pseudo-random points for their free symbols; equal iff
  they agree within the error estimated from the two precisions (so ``\\frac{\\sqrt3}{2}`` =
  ``\\sqrt3/2``, ``2^{1009}`` != ``2^{1009}+1``, ``1/2004!`` != ``1/2006!``).  Symbols are sampled
  on the whole real line, both signs, magnitudes from 0.02 to 48 (:mod:`.identity`): a side is
  defined at a point when its value is real (complex intermediates allowed; complex values
  compared as such when a side has ``i``), the sides must agree wherever both are defined and at
  4+ of the 16 points, and no point may have only one side defined (``|x|`` != ``x``,
  ``x|x|`` != ``x^2``, ``\ln(x^2)`` != ``2\ln x``; ``\sqrt{x^2}`` = ``|x|``, ``(\sqrt x)^2`` =
  ``x``, ``\frac{x^2-1}{x-1}`` = ``x+1``, ``x^{1/3}`` = ``\sqrt[3]{x}`` (real odd roots)).
  Expressions with ``\lfloor``/``\lceil``/gcd/lcm (piecewise constant, about integers) are instead
  compared at the integers +-1..+-20 (12+ where both are defined), exactly where possible.
* Tuples and intervals ``(a,b]`` compare element by element with the same brackets (items may be
  separated by semicolons: ``(1;2;0)``); comma or semicolon lists, ``\\{...\\}`` sets and bare
  ``{...}`` braces compare as multisets; ``a \\pm b`` is the set {a+b, a-b}; unions of intervals
  compare unordered; relations (``=``, ``<``, ``\\le``...) side by side (or mirrored); ratios
  ``5 : 9`` term by term.
* Labelled answers: a label on one side only is ignored (``(a,b)=(4,1)`` = ``(4,1)``,
  ``PQ=3, RS=8`` = ``3, 8``, ``|XY| = 2`` = ``2``, ``A_1 : A_2 = 5 : 9`` = ``5:9``).  Labels that
  name the parts of an answer (a tuple of variables, capitals such as ``PQ``, ``|XY|``, a ratio of
  names) must match when both sides have one; a single variable's name is ignored at the top level
  (``k = 1`` = ``q = 1``) and counts inside lists (``x=1, y=2`` != ``y=1, x=2``).
* Several boxes: for a list or set ground truth, the boxes of the final answer are combined
  (``\\boxed{2}`` and ``\\boxed{-3}`` = ``-3, 2``); the final answer is the last box and the boxes
  chained to it at most 60 characters apart, so an earlier intermediate box does not count (see
  :func:`grade` and :func:`final_boxes`).
* Inequalities and intervals: a chain in one real variable (or its absolute value) is the set of
  intervals it describes (``0 < t < 2`` = ``(0, 2)``, ``-1 \\le x \\le 4`` = ``x \\in [-1, 4]``,
  ``2 \\le |w| \\le 3`` = ``[-3,-2] \\cup [2,3]``); open and closed ends must match.
* Equations: two equations with symbols are equal when one is a non-zero constant multiple of the
  other after moving everything to one side (``3x - 6y + 9 = 0`` = ``-x + 2y - 3 = 0`` =
  ``y = x/2 + 3/2``), checked as a constant non-zero ratio at sample points.  A value answer
  ``x = 3`` is compared as the value 3 (``2x = 6`` is not accepted for it).
* Decimal approximations: a decimal prediction with at least 6 significant digits matches a
  non-integer exact value when it equals the value rounded to its own number of decimal places
  (``0.0909090909`` = ``\\frac{1}{11}``, ``3.141593`` = ``\\pi``; ``1.73`` != ``\\sqrt3``,
  ``1.732050`` != ``\\sqrt3`` (truncated), ``9.58`` != ``9.6``).  Integers stay exact, and a
  decimal ground truth is itself the exact value.
* Issue 22 forms (details and the arguable choices in :func:`grade`): mixed numbers
  ``1\\frac12`` / ``1 1/2``, matrices cell by cell, thousands ``1,\\! 000`` / ``1{,}000``,
  scientific notation, base subscripts, ``\\approx``, percentage words and trailing words, ``, and``
  lists, juxtaposed powers ``2^6 3^5``, the imaginary unit ``i``, degrees in trigonometric
  functions, ``f(x) = ...`` for ``y = ...``, linear inequalities ``-x > -1``, ``or`` between
  inequalities as a union, labelled ratios ``S_{MBCN}:S = 7:32``.
* Issue 33 forms (from math-verify's own test suite): an ``=`` chain whose sides after the label
  are one constant (``x = 5+5+1 = 11`` = ``11``; ``x = 5+5+1 = 7 = 11`` is not), ``x \\approx 11``
  (the decimal as written), ``p=5,q=2;p=7,q=2`` (the tuples), ``\\frac{NO}{BO} = v`` (a label),
  ``z \\in A \\cup B``, ``0 < f(x) < 1`` (an interval), ``(11,7)or(7,11)`` and commands written
  with a doubled backslash (``\\\\frac``; not inside matrices).
* Issue 33 notations (:mod:`.notations`, :mod:`.solution_sets`): repeating decimals
  ``0.1\\overline{6}`` / ``0.(3)`` exactly, the reals ``\\mathbb{R}`` = ``(-\\infty,\\infty)`` =
  ``all real numbers``, ``x \\neq 2`` = ``\\mathbb{R}\\setminus\\{2\\}`` = ``(-\\infty,2)\\cup(2,\\infty)``,
  vectors ``\\langle 1,2\\rangle`` = ``(1,2)``, general solutions with ``k \\in \\mathbb{Z}`` compared
  as sets, multiple-choice keys ``(C) 12`` (the letter, the value or both), ``\\text{5 cm}`` and
  lists with a unit on each item.
* Anything the parser does not understand is compared as a normalised string only, so a parser
  failure can never make a wrong answer pass.

Safety: model text is never evaluated.  A small tokenizer and recursive-descent parser build a
tuple AST, and two evaluators (exact ``Fraction`` arithmetic, mpmath numerics) walk it with size
guards on every operation (bit length of exact numbers, magnitude of floating values, arguments of
trig/exp/factorial, exponent size) and a cooperative deadline checked at every node, so every check
is bounded in time in any thread (no signals).  Inputs beyond fixed limits (answer length, token
count, bracket depth) skip the symbolic path.  sympy is not used.

Layout
------
``extraction`` (boxes, ``</think>``, last number, ground truths) -> ``normalisation`` (string
forms; ``forms`` holds the issue-22 rewrites: thousands separators, base subscripts, degrees in
trigonometric functions, trailing words, ``\\approx``, matrix cells) -> ``parser`` (tokens ->
tuple AST) -> ``structures`` (lists, tuples, sets, relations, labels, matrices) -> ``evaluator``
(exact and mpmath evaluation of an AST) -> ``equivalence`` (the rules above; ``identity`` holds
the identity test of expressions on their real domain, ``values`` the rounding of exact answers to
decimal ground truths and the coefficients of linear inequalities)
-> ``grader`` (the entry points; ``notations`` holds the issue-33 string forms (repeating
decimals, the reals, integer qualifiers, multiple-choice keys) and ``solution_sets`` the sets of reals
and families of solutions; :func:`grade`'s docstring lists the forms of issue 22 and the
choices made on arguable ones); ``mathverify`` runs the second opinion; ``limits`` holds
the bounds.  The entry points (``__all__``) and the helpers shared between these modules
(public names in the module that defines them) are importable from ``polaris_repro.grading``
directly; each module's own helpers keep a leading underscore and stay in it.
"""

from .limits import (  # noqa: F401
    DEFAULT_TIMEOUT_S, MAX_ANSWER_CHARS, MAX_TOKENS, MAX_DEPTH, MAX_EXACT_BITS, MAX_FACTORIAL,
    MAX_LOG2, MAX_NUMBER_DIGITS, MAX_SYMBOLS, MAX_SET_SIZE, NotMath, Undefined, NotReal, Deadline
)
from .extraction import (  # noqa: F401
    extract_answer, BOX_GAP, MAX_FINAL_BOXES, final_boxes, split_think, last_number, ground_truths
)
from .normalisation import CMD_RE, THOUSANDS, basic_normalize, normalize_answer  # noqa: F401
from .parser import (  # noqa: F401
    GREEK, OPEN, CLOSE, tokenize, token_key, is_rel, Parser, free_symbols, has_inf, has_discrete
)
from .structures import prepare, prepare_cached  # noqa: F401
from .evaluator import exact_or_none, mp_contexts, numeric_value, sample_point, int_point  # noqa: F401
from .identity import expr_equal, proportional, real_odd_roots, signed_point, signed_int_point  # noqa: F401
from .equivalence import (  # noqa: F401
    MIN_DECIMAL_DIGITS, is_inequality, seq_interval, intervals_of, equation_of, equivalent, any_equivalent
)
from .grader import MODES, GradeResult, grade, is_correct, canonical_answer, grade_many  # noqa: F401
from .mathverify import math_verify_correct, close_math_verify  # noqa: F401


__all__ = [
    'DEFAULT_TIMEOUT_S', 'MODES', 'MAX_ANSWER_CHARS', 'MAX_TOKENS', 'MAX_DEPTH', 'MAX_EXACT_BITS',
    'MAX_FACTORIAL', 'MAX_LOG2', 'MAX_NUMBER_DIGITS', 'MAX_SYMBOLS', 'MAX_SET_SIZE', 'GradeResult',
    'extract_answer', 'split_think', 'last_number', 'ground_truths', 'normalize_answer', 'NotMath',
    'equivalent', 'grade', 'is_correct', 'canonical_answer', 'math_verify_correct',
    'close_math_verify', 'grade_many', 'final_boxes', 'BOX_GAP', 'MAX_FINAL_BOXES',
    'MIN_DECIMAL_DIGITS',
]
