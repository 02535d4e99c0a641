r"""Finding the answer in a response: the last ``\boxed{}``/``\fbox{}``, the ``</think>`` split
of the training reward, the last number (``boxed_or_last_number`` mode), and the candidate answer
strings of a ground truth.
"""
from __future__ import annotations

import math
import re
from typing import Any

import numpy as np


def _box_at(text: str, i: int, limit: int | None = None) -> tuple[str, int] | None:
    """``(content, end)`` of the ``\\boxed``/``\\fbox`` starting at ``i`` (``end``: just after it), or
    None when it is not closed before ``limit`` (default: the end of the text)."""
    j = i + (6 if text.startswith("\\boxed", i) else 5)
    n = len(text) if limit is None else min(len(text), limit)
    k = j
    while k < n and text[k] in " \t":
        k += 1
    if k < n and text[k] == "{":
        depth = 0
        p = k
        while p < n:
            c = text[p]
            if c == "\\":
                p += 2
                continue
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    return text[k + 1:p].strip(), p + 1
            p += 1
        return None
    if k > j and k < n:  # "\boxed 5": up to whitespace or '$'
        m = _BARE_BOX.match(text, k)
        return (m.group(0).rstrip("."), m.end()) if m else None
    return None


_BARE_BOX = re.compile(r"[^\s$]+")


def _last_box_start(text: str, end: int, start: int = 0) -> int:
    return max(text.rfind("\\boxed", start, end), text.rfind("\\fbox", start, end))


def extract_answer(response: str | None) -> str | None:
    """Content of the last ``\\boxed{...}`` or ``\\fbox{...}`` in ``response``.

    Found with ``rfind`` from the end and brace-matched forward, so the work is linear in the text
    after the last box.  ``\\boxed 5`` (no braces) yields ``5``.  Escaped braces ``\\{``/``\\}``
    do not count.  Returns ``None`` when there is no box or the last box is never closed.
    """
    if not response:
        return None
    text = str(response)
    i = _last_box_start(text, len(text))
    if i < 0:
        return None
    got = _box_at(text, i)
    return None if got is None else got[0]


# boxes of one final answer are at most this many characters apart ("$ and $", ", ", "\quad")
BOX_GAP = 60
MAX_FINAL_BOXES = 16


def final_boxes(response: str | None) -> list[str]:
    """The boxed answers that make up the final answer, in order: the last box and every box
    before it that ends at most ``BOX_GAP`` characters before the next one starts (``\\boxed{2}``
    and ``\\boxed{-3}``).  A box further back is an intermediate result and is not part of the
    final answer.  Empty when the last box is missing or unclosed.  The search looks back at most
    ``BOX_GAP`` + 2000 characters per box, so the work stays proportional to the answer's tail."""
    if not response:
        return []
    text = str(response)
    i = _last_box_start(text, len(text))
    got = _box_at(text, i) if i >= 0 else None
    if got is None:
        return []
    out = [got[0]]
    start = i
    while len(out) < MAX_FINAL_BOXES:
        j = _last_box_start(text, start, max(0, start - BOX_GAP - 2000))
        if j < 0:
            break
        prev = _box_at(text, j, start)
        if prev is None or prev[1] > start or start - prev[1] > BOX_GAP:
            break
        out.append(prev[0])
        start = j
    return out[::-1]


def split_think(response: str | None) -> tuple[bool, str]:
    """``(has_think, text)``: the text between the first and second ``</think>`` (usually: all of
    the text after it), as in the POLARIS training reward; ``(False, "")`` without ``</think>``."""
    if not response:
        return False, ""
    text = str(response)
    i = text.find("</think>")
    if i < 0:
        return False, ""
    rest = text[i + len("</think>"):]
    j = rest.find("</think>")
    return True, rest if j < 0 else rest[:j]


_DIGITS = "0123456789"


def last_number(text: str | None) -> str | None:
    """The last number in ``text`` (sign, decimals and thousands separators kept), found from the
    end; ``None`` if there is no digit."""
    if not text:
        return None
    text = str(text)
    end = -1
    hi = len(text)
    while hi > 0 and end < 0:  # look back in chunks so the work is proportional to the tail
        lo = max(0, hi - 4096)
        chunk = text[lo:hi]
        pos = max(chunk.rfind(d) for d in _DIGITS)
        if pos >= 0:
            end = lo + pos
        hi = lo
    if end < 0:
        return None
    start = end
    while start > 0 and (text[start - 1] in _DIGITS or text[start - 1] in ".,") and end - start < 200:
        start -= 1
    seg = text[start:end + 1]
    seg_start = start + (len(seg) - len(seg.lstrip(",")))
    num = seg.lstrip(",").rstrip(".,")
    if "," in num:
        if re.fullmatch(r"\d{1,3}(,\d{3})+(\.\d+)?", num):
            num = num.replace(",", "")
        else:
            num = num.rsplit(",", 1)[1]
            seg_start = end + 1 - len(num)
    if num.count(".") > 1:
        num = num.rsplit(".", 1)[1]
        seg_start = end + 1 - len(num)
    if num.startswith("."):
        num = "0" + num
    if seg_start > 0 and text[seg_start - 1] == "-":
        num = "-" + num
    return num or None


def ground_truths(ground_truth: Any, *, integral_floats: bool = True,
                  box_markers: tuple[str, ...] = ("\\boxed", "\\fbox")) -> list[str]:
    """Ground truth (str, number, list/array of those) -> list of candidate answer strings.

    Integral floats become integers (``142.0`` -> ``"142"``; ``integral_floats=False`` keeps
    ``str(float)``: ``"142.0"``); a ground truth containing one of ``box_markers`` is itself
    extracted; blanks are dropped."""
    out: list[str] = []

    def add(g: Any) -> None:
        if g is None:
            return
        if isinstance(g, (list, tuple, np.ndarray)):
            for x in g:
                add(x)
            return
        if isinstance(g, (bool, np.bool_)):
            s = str(g)
        elif isinstance(g, (float, np.floating)):
            f = float(g)
            if math.isnan(f):
                return
            s = str(int(f)) if integral_floats and f.is_integer() else repr(f)
        elif isinstance(g, (int, np.integer)):
            s = str(int(g))
        elif isinstance(g, bytes):
            s = g.decode("utf-8", "replace")
        else:
            s = str(g)
        if any(marker in s for marker in box_markers):
            s = extract_answer(s) or s
        s = s.strip()
        if s:
            out.append(s)

    add(ground_truth)
    return out
