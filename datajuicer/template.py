r"""The template mini-language (README "Templates"), with a defined grammar and escapes.

Grammar (``{`` / ``}`` delimit groups; the text outside groups is copied)::

    template := (text | group)*
    group    := "{" ["!"] name call* "}"
    name     := (text | group)*           the key; nested groups are substituted first: {fav_{topic}}
    call     := "(" [arg ("," arg)*] ")"  commas and ")" inside nested {..} or (..) do not split
    arg      := (text | group)*           a lone group passes the raw object, anything else a string

* A template that is exactly one group returns the raw object (``"{number}"`` → ``1``, ``"{*}"`` → the
  element itself); otherwise every group is replaced by ``str(value)`` and the result is a ``str``.
* A string without ``{`` and ``}`` is returned unchanged (backslashes included).
* Escapes (only inside strings that contain a brace): ``\{`` ``\}`` ``\\`` give ``{`` ``}`` ``\``; inside
  a group also ``\(`` ``\)`` ``\,``. Any other backslash is literal. (``{{a}}`` stays indirection, as in
  the original: the key named by the value of ``a``.)
* Names and arguments are stripped of surrounding whitespace; ``f()`` is a call without arguments.
* Lazy expansion: a looked-up value that is a plain ``str`` containing ``{`` is itself formatted, until it
  is not. :class:`Literal` strings (and everything ``run`` stores from a result) are never expanded.
* ``!name(...)``: the call's string result is not re-formatted.
* Errors are :class:`TemplateError` (missing keys: :class:`TemplateKeyError`, also a ``KeyError``) naming
  the template, the key and, inside ``run``, the element index; cycles are reported, not recursed into.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

_MAX_DEPTH = 40  # nested expansions/calls before we call it runaway (well below Python's recursion limit)


class NODEFAULT:
    """Marker: ``get`` without a default raises on a missing key."""


class Literal(str):
    """A string that is never template-expanded when read with ``get`` (e.g. a LaTeX label ``r"\\bf{x}"``)."""

    __slots__ = ()


class TemplateError(ValueError):
    """A template could not be parsed or evaluated; ``str()`` names template, key and element index."""

    def __init__(self, detail: str, template: str | None = None, key: str | None = None):
        super().__init__(detail)
        self.detail, self.template, self.key = detail, template, key
        self.index: int | None = None  # the grid element, filled in by ``run``
        self.trail: list[str] = []  # keys whose lazy expansion led here, innermost first

    def __str__(self) -> str:
        where = f"template {self.template!r}" if self.template is not None else "template"
        if self.key is not None:
            where += f", key {self.key!r}"
        if self.index is not None:
            where += f", element {self.index}"
        via = f" (while expanding {' <- '.join(repr(k) for k in self.trail)})" if self.trail else ""
        return f"{where}: {self.detail}{via}"


class TemplateKeyError(TemplateError, KeyError):
    """A key is missing from the element."""

    __str__ = TemplateError.__str__


class Group:
    """One parsed ``{...}``: ``name`` and each call's ``args`` are tuples of parts (``str`` or ``Group``)."""

    __slots__ = ("calls", "literal", "name", "src")

    def __init__(self, src: str, literal: bool, name: tuple, calls: tuple):
        self.src, self.literal, self.name, self.calls = src, literal, name, calls


# ----------------------------------------------------------------------------------------------- parsing
_TEXT_ESCAPES = "{}\\"
_GROUP_ESCAPES = "{}\\(),"


def _seq(s: str, i: int, stops: str, args: bool, eos_ok: bool = False) -> tuple[tuple, int]:
    """Parts of a name (``args=False``) or an argument up to a stop char at paren depth 0 (or the end of
    ``s`` if ``eos_ok``); returns (parts, index of the stop)."""
    parts: list = []
    buf: list[str] = []
    depth = 0
    while True:
        if i >= len(s):
            if eos_ok and depth == 0:
                break
            raise TemplateError("unclosed '{'" if not args else "unclosed '(' in a call", s)
        c = s[i]
        if c == "\\" and i + 1 < len(s) and s[i + 1] in _GROUP_ESCAPES:
            buf.append(s[i + 1])
            i += 2
            continue
        if depth == 0 and c in stops:
            break
        if c == "{":
            if buf:
                parts.append("".join(buf))
                buf = []
            group, i = _group(s, i)
            parts.append(group)
            continue
        if c == "}":
            raise TemplateError(f"unexpected '}}' at position {i} inside a call", s)
        if args and c in "()":
            depth += 1 if c == "(" else -1
        buf.append(c)
        i += 1
    if buf:
        parts.append("".join(buf))
    return tuple(parts), i


def _calls(s: str, i: int) -> tuple[tuple, int]:
    """Parse ``(a,b)(c)...`` starting at ``s[i] == "("``; returns (calls, index after the last ``)``)."""
    calls = []
    while i < len(s) and s[i] == "(":
        args, i = [], i + 1
        while True:
            arg, i = _seq(s, i, ",)", args=True)
            args.append(arg)
            i += 1
            if s[i - 1] == ")":
                break
        if len(args) == 1 and all(isinstance(p, str) and not p.strip() for p in args[0]):
            args = []  # "f()" and "f( )" are calls without arguments
        calls.append(tuple(args))
    return tuple(calls), i


def _body(s: str, i: int, closing: bool) -> tuple[Group, int]:
    """Parse a group body starting at ``i``; ``closing``: it ends with ``}`` (else at the end of ``s``)."""
    start = i
    literal = i < len(s) and s[i] == "!"
    i += literal
    name, i = _seq(s, i, "(}", args=False, eos_ok=not closing)
    calls, i = _calls(s, i)
    end = len(s) if not closing else i
    if closing and (i >= len(s) or s[i] != "}"):
        raise TemplateError(f"expected '}}' after the call at position {i}", s)
    if not closing and i != len(s):
        raise TemplateError(f"unexpected text {s[i:]!r} after the call", s)
    return Group(s[start:end], literal, name, calls), i + closing


def _group(s: str, i: int) -> tuple[Group, int]:
    return _body(s, i + 1, closing=True)


@functools.lru_cache(maxsize=8192)
def parse(template: str) -> tuple:
    """Top-level parts of ``template``: literal strings and :class:`Group` objects (cached; immutable)."""
    parts: list = []
    buf: list[str] = []
    i = 0
    while i < len(template):
        c = template[i]
        if c == "\\" and i + 1 < len(template) and template[i + 1] in _TEXT_ESCAPES:
            buf.append(template[i + 1])
            i += 2
        elif c == "{":
            if buf:
                parts.append("".join(buf))
                buf = []
            group, i = _group(template, i)
            parts.append(group)
        elif c == "}":
            raise TemplateError(f"unmatched '}}' at position {i}", template)
        else:
            buf.append(c)
            i += 1
    if buf:
        parts.append("".join(buf))
    return tuple(parts)


@functools.lru_cache(maxsize=8192)
def parse_key(key: str) -> Group:
    """A key expression as accepted by :func:`get` (a group body without the braces)."""
    return _body(key, 0, closing=False)[0]


# -------------------------------------------------------------------------------------------- evaluation
class _Ctx:
    """Evaluation state: the template (for messages) and the templates being expanded (cycle check)."""

    __slots__ = ("active", "template")

    def __init__(self, template: str, active: tuple = ()):
        self.template, self.active = template, active


def _strip(parts: tuple) -> tuple:
    parts = list(parts)
    if parts and isinstance(parts[0], str):
        parts[0] = parts[0].lstrip()
    if parts and isinstance(parts[-1], str):
        parts[-1] = parts[-1].rstrip()
    return tuple(p for p in parts if not (isinstance(p, str) and p == ""))


def _join(data: Any, parts: tuple, ctx: _Ctx, raw_single: bool) -> Any:
    """Evaluate parts: a lone group gives its raw value (if ``raw_single``); otherwise the joined string."""
    if raw_single and len(parts) == 1 and isinstance(parts[0], Group):
        return _eval(data, parts[0], ctx)
    return "".join(p if isinstance(p, str) else str(_eval(data, p, ctx)) for p in parts)


def _lookup(data: Any, name: Any) -> Any:
    """``data[name]``; sequences accept digit strings as indices. Missing → KeyError/IndexError."""
    if isinstance(data, Mapping):
        return data[name]
    if isinstance(data, Sequence) and not isinstance(data, str):
        if isinstance(name, str) and name.lstrip("-").isdigit():
            name = int(name)
        return data[name]
    raise TypeError(f"cannot look up {name!r} in a {type(data).__name__}")


def _missing(name: Any, data: Any, ctx: _Ctx, group: Group) -> TemplateKeyError:
    keys = list(data)[:25] if isinstance(data, Mapping) else f"a sequence of length {len(data)}"
    return TemplateKeyError(f"key {name!r} not found; available: {keys}", ctx.template, group.src)


def _expand(data: Any, value: Any, name: Any, ctx: _Ctx) -> Any:
    """Lazy expansion of a stored template string, with cycle detection."""
    if not (type(value) is str and "{" in value):
        return value
    # Expanding the same template string for the same element while it is already being expanded can
    # only loop forever (the original recursed until RecursionError).
    marker = (id(data), value)
    seen = [m for m, _ in ctx.active]
    if marker in seen:
        chain = " -> ".join(label for _, label in ctx.active[seen.index(marker) :])
        raise TemplateError(f"cycle in template expansion: {chain} -> {name}", ctx.template, str(name))
    if len(ctx.active) >= _MAX_DEPTH:
        raise TemplateError(f"expansion deeper than {_MAX_DEPTH} levels", ctx.template, str(name))
    inner = _Ctx(value, ctx.active + ((marker, str(name)),))
    produced = {value}
    while type(value) is str and "{" in value:
        try:
            value = _format(data, value, inner)
        except TemplateError as err:
            err.trail.append(str(name))
            raise
        if type(value) is str:
            if value in produced:  # e.g. a "!" call that returns its own template: it would never end
                raise TemplateError(
                    f"cycle in template expansion: {name} gives {value!r} again", ctx.template, str(name)
                )
            produced.add(value)
    return value


def _call(data: Any, group: Group, value: Any, ctx: _Ctx, name: Any) -> Any:
    for args in group.calls:
        actual = [_join(data, _strip(a), ctx, raw_single=True) for a in args]
        if not callable(value):
            raise TemplateError(
                f"{name!r} is a {type(value).__name__}, not callable", ctx.template, group.src
            )
        try:
            value = value(*actual)
        except Exception as err:
            err.add_note(f"datajuicer: raised by the call {group.src!r} in template {ctx.template!r}")
            raise
        if not group.literal and type(value) is str and "{" in value:
            value = _expand(data, value, f"{name}(...)", ctx)
    return value


def _eval(data: Any, group: Group, ctx: _Ctx, default: Any = NODEFAULT) -> Any:
    """The value of one group against ``data``; ``default`` replaces a missing top-level key."""
    name = _join(data, _strip(group.name), ctx, raw_single=True)
    if name == "*":
        value = data
    else:
        if name == "":
            raise TemplateError("empty key", ctx.template, group.src)
        try:
            value = _lookup(data, name)
        except (KeyError, IndexError):
            if default is NODEFAULT:
                raise _missing(name, data, ctx, group) from None
            value = default
        except TypeError as err:
            raise TemplateError(str(err), ctx.template, group.src) from None
        value = _expand(data, value, name, ctx)
    return _call(data, group, value, ctx, name)


def _format(data: Any, template: str, ctx: _Ctx) -> Any:
    parts = parse(template)
    if len(parts) == 1 and isinstance(parts[0], Group):
        return _eval(data, parts[0], ctx)
    return "".join(p if isinstance(p, str) else str(_eval(data, p, ctx)) for p in parts)


def format_template(data: Any, template: str) -> Any:
    """Resolve ``template`` against one element ``data`` (README "Templates"); see the module docstring."""
    if not isinstance(template, str):
        raise TypeError(f"format_template expects a str template, got {type(template).__name__}")
    if "{" not in template and "}" not in template:
        return template
    try:
        return _format(data, template, _Ctx(template))
    except TemplateError as err:
        if err.template is None:
            err.template = template
        raise


def get(data: Any, key: Any, default: Any = NODEFAULT) -> Any:
    """The value of key expression ``key`` in ``data`` (README "Templates"): ``"a"``, ``"fav_{topic}"``,
    ``"f({x})"``.

    ``"*"`` is ``data`` itself; a non-``str`` key is a plain lookup (``get(row, 0)``). With ``default``, a
    missing key gives the default (a template default is expanded too, as in the original).
    """
    if not isinstance(key, str):
        try:
            return _lookup(data, key)
        except (KeyError, IndexError):
            if default is NODEFAULT:
                raise TemplateKeyError(f"key {key!r} not found", None, repr(key)) from None
            return default
    ctx = _Ctx("{" + key + "}")
    try:
        value = _eval(data, parse_key(key), ctx, default)
    except TemplateError as err:
        if err.template is None:
            err.template = ctx.template
        raise
    return value
