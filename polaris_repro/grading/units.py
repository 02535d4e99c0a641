r"""Units are part of an answer's value (issue 33): :func:`split_unit` separates a trailing unit
(``5\text{ cm}``, ``10^{33}\text{ erg/s}``, ``6 feet``, ``30^\circ``, ``5\%``, a leading ``\$``) from
the value before it, and :func:`unit_relation` says how two units relate.

A unit is a product of atoms with integer powers (``m/s^2``, ``kg\cdot m^2``, ``erg\,s^{-1}``).
Known atoms carry a dimension (a product of base dimensions) and an exact rational factor to the
SI base (``in`` = 127/5000 m, ``hour`` = 3600 s, ``J`` = kg m^2 s^-2); an unknown atom (``erg`` is
known, ``widgets`` is not) is its own base dimension with factor 1, so that unknown units match
only themselves (``erg/s`` = ``erg\,s^{-1}``, ``widgets`` != ``apples``).  Two quantities are equal
iff their dimensions are the same and their values agree after the exact conversion; nothing is
converted with an inexact factor (degrees to radians, Celsius to Kelvin, pounds: not converted).

What is read as a unit (everything else is left to the old normalisation, unchanged):

* a trailing ``\text{...}`` / ``\mathrm{...}`` / ``\textrm`` / ``\mbox`` / ``\operatorname`` group
  (several, with ``/``, ``\cdot``, ``^2``, ``^{-1}`` between or after them) after a value with a
  digit: atoms of the table, SI-prefixed symbols (``kJ``, ``ns``), one capital letter (``5600\text{
  K}``, ``3\text{ C}``), or one plain word (a noun, ``14\text{ apples}``).  One lower-case letter that
  is not a unit (``2\text{ i}``, ``2\mathrm{e}``) and words that change the value (``or more``,
  ``squared``, ``million``) are not units;
* trailing unit words in math mode (``6 feet``, ``5cm``, ``28 per cent``) when every atom is a
  known word of at least two letters: a single letter in math mode is a variable (``2m`` is
  ``2 m``, a product, not 2 metres);
* ``^\circ`` / ``^{\circ}`` / ``°`` / ``\degree`` at the end (degrees; ``^\circ C`` / ``^\circ F``
  are their own units), except when the answer has a trigonometric function (there ``^\circ``
  converts to radians, see :func:`forms.rewrite_numbers`);
* ``\%`` / ``%`` at the end (percent) and ``\$`` at the start (dollars);
* a whole quantity in one group, ``\text{5 cm}``, is ``5\text{ cm}``.  A list whose items carry
  units (``3\text{ cm}, 4\text{ cm}``) is compared item by item, each with its own unit (see
  :func:`.equivalence.equivalent`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from .forms import MEANINGFUL_WORDS, TRIG_FUNCTION

F = Fraction

# ---------------------------------------------------------------------------------- the table

_L, _T, _M = {"L": 1}, {"T": 1}, {"M": 1}


def _d(**kw) -> dict:
    return {k: v for k, v in kw.items() if v}


_ENERGY = _d(M=1, L=2, T=-2)
_ATOMS: dict[str, tuple[dict, Fraction]] = {}


def _add(names: str, dims: dict, factor) -> None:
    for n in names.split("|"):
        _ATOMS[n] = (dims, F(factor))


# length (metre)
_add("mm|millimeter|millimeters|millimetre|millimetres", _L, F(1, 1000))
_add("cm|centimeter|centimeters|centimetre|centimetres", _L, F(1, 100))
_add("m|meter|meters|metre|metres", _L, 1)
_add("km|kilometer|kilometers|kilometre|kilometres", _L, 1000)
_add("nm|nanometer|nanometers", _L, F(1, 10 ** 9))
_add("in|inch|inches", _L, F(254, 10000))
_add("ft|foot|feet", _L, F(3048, 10000))
_add("yd|yard|yards", _L, F(9144, 10000))
_add("mi|mile|miles", _L, F(1609344, 1000))
# time (second)
_add("s|sec|secs|second|seconds", _T, 1)
_add("ms|millisecond|milliseconds", _T, F(1, 1000))
_add("min|mins|minute|minutes", _T, 60)
_add("h|hr|hrs|hour|hours", _T, 3600)
_add("day|days", _T, 86400)
_add("week|weeks", _T, 604800)
# mass (kilogram)
_add("mg|milligram|milligrams", _M, F(1, 10 ** 6))
_add("g|gram|grams", _M, F(1, 1000))
_add("kg|kilogram|kilograms", _M, 1)
# other SI
_add("K|kelvin|kelvins", {"Th": 1}, 1)
_add("A|ampere|amperes|amp|amps", {"I": 1}, 1)
_add("mol|mole|moles", {"N": 1}, 1)
_add("J|joule|joules", _ENERGY, 1)
_add("erg|ergs", _ENERGY, F(1, 10 ** 7))
_add("eV", _ENERGY, F(1602176634, 10 ** 28))
_add("N|newton|newtons", _d(M=1, L=1, T=-2), 1)
_add("W|watt|watts", _d(M=1, L=2, T=-3), 1)
_add("V|volt|volts", _d(M=1, L=2, T=-3, I=-1), 1)
_add("Pa|pascal|pascals", _d(M=1, L=-1, T=-2), 1)
_add("Hz|hertz", _d(T=-1), 1)
_add("L|l|liter|liters|litre|litres", _d(L=3), F(1, 1000))
_add("mL|ml|milliliter|milliliters|millilitre|millilitres", _d(L=3), F(1, 10 ** 6))
_add("mph", _d(L=1, T=-1), F(1609344, 1000 * 3600))
_add("kph", _d(L=1, T=-1), F(1000, 3600))
# units without an exact conversion to anything else here: each is its own dimension
_add("deg|degree|degrees", {"deg": 1}, 1)
_add("pct|percent|percentage", {"pct": 1}, 1)
_add("dollar|dollars", {"USD": 1}, 1)
_add("cent|cents", {"USD": 1}, F(1, 100))
for _w in ("rad|radian|radians", "month|months", "year|years", "unit|units", "pound|pounds|lb|lbs",
           "oz|ounce|ounces", "ton|tons", "gallon|gallons", "quart|quarts", "pint|pints", "cup|cups",
           "acre|acres", "degC", "degF"):
    _add(_w, {_w.split("|")[0]: 1}, 1)
_add("percentage points|pp", {"pp": 1}, 1)

# the symbols an SI prefix may precede, and the prefixes
_SI_SYMBOLS = ("m", "s", "g", "J", "N", "W", "V", "A", "Pa", "Hz", "L", "eV", "K", "mol")
_PREFIX = {"k": F(1000), "M": F(10 ** 6), "G": F(10 ** 9), "m": F(1, 1000), "u": F(1, 10 ** 6),
           "\\mu": F(1, 10 ** 6), "µ": F(1, 10 ** 6), "n": F(1, 10 ** 9), "c": F(1, 100)}


def _atom(name: str, in_text: bool):
    """``(dims, factor, known)`` of one atom, None when it is not a unit."""
    if name in _ATOMS:
        if not in_text and len(name) < 2:
            return None              # a single letter in math mode is a variable
        d, f = _ATOMS[name]
        return d, f, True
    low = name.lower()
    if len(name) >= 3 and low in _ATOMS:
        d, f = _ATOMS[low]
        return d, f, True
    if not in_text:
        return None
    for p, pf in _PREFIX.items():
        if name.startswith(p) and name[len(p):] in _SI_SYMBOLS and len(name) > len(p):
            d, f = _ATOMS[name[len(p):]]
            return d, f * pf, True
    if len(name) == 1:
        return ({"?" + name: 1}, F(1), False) if name.isupper() else None
    if low in MEANINGFUL_WORDS:
        return None
    return {"?" + name: 1}, F(1), False


# ---------------------------------------------------------------------------------- units


@dataclass(frozen=True)
class Unit:
    dims: tuple          # sorted ((base, power), ...)
    factor: Fraction     # exact factor to the SI base
    known: bool          # every atom is in the table
    noun: bool = False   # one plain word that is not in the table (``apples``): a noun

    @property
    def key(self) -> str:
        return "*".join(f"{b}^{p}" for b, p in self.dims) + f"@{self.factor}"


def _combine(atoms) -> Unit | None:
    dims: dict = {}
    factor, known = F(1), True
    for (d, f, k), power in atoms:
        for b, p in d.items():
            dims[b] = dims.get(b, 0) + p * power
        factor *= f ** power
        known = known and k
    return Unit(tuple(sorted((b, p) for b, p in dims.items() if p)), factor, known)


_WORD = re.compile(r"\\mu|µ|[A-Za-z]+")
_POW = re.compile(r"\^\s*(?:\{\s*([+-]?\d)\s*\}|([+-]?\d))")
_SEP = re.compile(r"\\cdot(?![a-zA-Z])|\\,|\\;|\\:|\\!|\\ |~|\*|\.|\s+|-(?=[A-Za-z])")
_MODIFIER = {"square": 2, "sq": 2, "cubic": 3, "cu": 3}
_POSTFIX = {"squared": 2, "cubed": 3}


def parse_unit(text: str, in_text: bool) -> Unit | None:
    """A unit expression (``m/s^2``, ``kg\\cdot m^2``, ``erg s^{-1}``, ``square feet``, ``sq. units``,
    ``percentage points``) as a :class:`Unit`; None when some part of it is not a unit."""
    t = text.strip()
    if not t or len(t) > 80:
        return None
    t = t.replace("percentage points", "pp").replace("per cent", "percent")
    atoms: list = []
    sign, pos, n = 1, 0, len(t)
    pending = 1                     # a "square"/"cubic" modifier waiting for its atom
    words = 0
    while pos < n:
        m = _SEP.match(t, pos)
        if m:
            pos = m.end()
            continue
        if t[pos] == "/":
            if sign < 0:
                return None          # one "/" at most
            sign, pos = -1, pos + 1
            continue
        m = _POW.match(t, pos)
        if m:
            if not atoms:
                return None
            (d, f, k), p = atoms[-1]
            atoms[-1] = ((d, f, k), p * int(m.group(1) or m.group(2)))
            pos = m.end()
            continue
        m = _WORD.match(t, pos)
        if not m:
            return None
        w = m.group(0)
        pos = m.end()
        if w.lower() in _MODIFIER and w != "cu" or w == "sq":
            pending = _MODIFIER[w.lower()]
            continue
        if w.lower() in _POSTFIX and atoms:
            (d, f, k), p = atoms[-1]
            atoms[-1] = ((d, f, k), p * _POSTFIX[w.lower()])
            continue
        if w in ("\\mu", "µ"):
            m2 = _WORD.match(t, pos)
            if not m2:
                return None
            w, pos = "u" + m2.group(0), m2.end()
        a = _atom(w, in_text)
        if a is None:
            return None
        atoms.append((a, sign * pending))
        pending = 1
        words += 1
    if not atoms or pending != 1:
        return None
    u = _combine(atoms)
    noun = (words == 1 and not u.known and len(atoms[0][0][0]) == 1 and atoms[0][1] == 1
            and len(next(iter(atoms[0][0][0]))) > 2)
    return Unit(u.dims, u.factor, u.known, noun)


# ---------------------------------------------------------------------------------- splitting

_TEXT_GROUP = re.compile(r"\\(?:text|mathrm|textrm|textnormal|mbox|operatorname|rm)\s*\{([^{}]*)\}")
_TAIL_PIECE = (r"\\(?:text|mathrm|textrm|textnormal|mbox|operatorname|rm)\s*\{[^{}]*\}|\^\s*\{\s*[+-]?\d\s*\}"
               r"|\^\s*[+-]?\d|\\cdot(?![a-zA-Z])|/|\\[,;:! ]|~|\s")
_TEXT_TAIL = re.compile(r"(?:" + _TAIL_PIECE + r")+\.?\s*")
_DEGREE_TAIL = re.compile(r"(?:\^\s*\{\s*\\circ\s*\}|\^\s*\\circ(?![a-zA-Z])|°|\\degree(?![a-zA-Z]))\s*"
                          r"(?:\\(?:text|mathrm|rm)\s*\{\s*([CF])\s*\}|([CF])(?![A-Za-z]))?\s*\.?\s*\Z")
# a whole quantity in one group, "\text{5 cm}": read as "5\text{ cm}"
_WHOLE_TEXT = re.compile(r"\A\\(?:text|mathrm|textrm|textnormal|mbox)\s*\{\s*([+-]?\d[\d.,]{0,60})\s*"
                         r"([A-Za-z][^{}]{0,80})\}\s*\.?\s*\Z")
_PERCENT_TAIL = re.compile(r"\\?%\s*\.?\s*\Z")
_DOLLAR_HEAD = re.compile(r"\A\s*\\\$\s*")
# unit words in math mode: letters, spaces, "/", powers (checked by parse_unit afterwards)
_WORD_TAIL = re.compile(r"(?<=[0-9}).\s])\s*([A-Za-z][A-Za-z .]*(?:/\s*[A-Za-z]+)?"
                        r"(?:\^\s*\{?\s*-?\d\s*\}?)?)\s*\.?\s*\Z")
_VALUE_END = re.compile(r"[0-9A-Za-z}).]\s*(?:\\[,;: !]|~|\s)*\Z")


def _head_ok(head: str) -> bool:
    return bool(head.strip()) and any(ch.isdigit() for ch in head) and _VALUE_END.search(head) is not None


def _clean_head(head: str) -> str:
    return re.sub(r"(?:\\[,;:! ]|~|\s)+\Z", "", head)


def split_unit(answer: str) -> tuple[str, Unit | None]:
    """``(value, unit)`` of an answer with a unit (rules in the module docstring); ``(answer,
    None)`` when it has none.  Linear in the answer's length (regular expressions without nested
    repetition, a scan over the ``\\text`` groups)."""
    s = str(answer)
    if len(s) > 2000:
        return s, None
    t = s.strip()
    if len(t) >= 2 and t[0] == "$" and t[-1] == "$" and not t.endswith("\\$"):
        t = t.strip("$").strip()
    m = _WHOLE_TEXT.match(t)
    if m:
        t = m.group(1) + "\\text{ " + m.group(2).strip() + "}"
    # \$ in front: dollars (a second unit after it, "\$5\text{ dollars}", must be dollars too)
    m = _DOLLAR_HEAD.match(t)
    if m:
        head, unit = split_unit(t[m.end():])
        usd = Unit((("USD", 1),), F(1), True)
        if unit is None or unit.dims == usd.dims:
            return head, usd if unit is None else unit
        return s, None
    m = _PERCENT_TAIL.search(t)
    if m and _head_ok(t[:m.start()]):
        return _clean_head(t[:m.start()]), Unit((("pct", 1),), F(1), True)
    if not TRIG_FUNCTION.search(t):
        m = _DEGREE_TAIL.search(t)
        if m and _head_ok(t[:m.start()]):
            cf = m.group(1) or m.group(2)
            name = "deg" if not cf else "deg" + cf
            return _clean_head(t[:m.start()]), Unit(((name, 1),), F(1), True)
    if "\\" in t:
        for g in _TEXT_GROUP.finditer(t):
            k = g.start()
            # the tail from this group on must be unit groups, powers, "/" and spaces only
            tail = _TEXT_TAIL.fullmatch(t, k)
            if tail is None:
                continue
            head = t[:k]
            if not _head_ok(head):
                break
            body = _TEXT_GROUP.sub(lambda x: " " + x.group(1) + " ", t[k:])
            unit = parse_unit(body, in_text=True)
            if unit is None:
                return s, None
            return _clean_head(head), unit
    m = _WORD_TAIL.search(t, max(0, len(t) - 60))      # unit words are short: a bounded search
    if m and _head_ok(t[:m.start(1)]):
        unit = parse_unit(m.group(1), in_text=False)
        if unit is not None and unit.known:
            return _clean_head(t[:m.start(1)]), unit
    return s, None
