"""The template language (README "Templates"): grammar, escapes, raw vs text results, lazy expansion,
errors."""

import pytest

import datajuicer as dj
from datajuicer import Literal, TemplateError, TemplateKeyError, format_template, get


def collect(*args):
    return args


E = {
    "a": 1,
    "b": "B",
    "lst": [1, 2],
    "dct": {"k": 1},
    "f": collect,
    "name": "b",
    "topic": "food",
    "fav_food": "x",
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{a}", 1),  # a lone group is the raw object
        ("{lst}", [1, 2]),
        ("<{dct}>", "<{'k': 1}>"),  # text mode uses str()
        ("{a}{b}", "1B"),
        ("no braces \\ here", "no braces \\ here"),  # untouched, backslashes included
        ("\\{a\\}", "{a}"),  # escaped braces
        ("\\\\{a}", "\\1"),  # escaped backslash before a group
        ("C:\\data\\x{a}", "C:\\data\\x1"),  # a backslash before another char is literal
        ("{{name}}", "B"),  # indirection, as in the original (not an escape)
        ("{fav_{topic}}", "x"),
        ("{ a }", 1),  # names are stripped
        ("{f()}", ()),  # zero-argument call
        ("{f( )}", ()),
        ("{f(1, 2)}", ("1", "2")),  # literals are strings; arguments are stripped
        ("{f({a}, {b})}", (1, "B")),
        ("{f(x {a})}", ("x 1",)),
        ("{f({f(1,2)})}", (("1", "2"),)),  # nested commas do not split the outer call
        ("{f(a\\,b)}", ("a,b",)),  # escaped comma
        ("{f(g(x))}", ("g(x)",)),  # balanced parentheses are argument text
        ("{f(,)}", ("", "")),
        ("{f(1)}", ("1",)),
    ],
)
def test_format_cases(template, expected):
    assert format_template(E, template) == expected


def test_star_and_get_defaults():
    assert format_template(E, "{*}") is E
    assert get(E, "*") is E
    assert get(E, "missing", 7) == 7
    assert get(E, "missing", "{a}") == 1  # a template default is expanded (original behaviour)
    assert get([10, 20], 1) == 20 and get([10, 20], "1") == 20
    with pytest.raises(KeyError):
        get(E, "missing")


def test_lazy_expansion_and_literal():
    data = {
        "mode": "direct",
        "mk": lambda m: f"/data/{m}",
        "data_dir": "{mk({mode})}",
        "label": Literal("\\bf{a}"),
    }
    assert get(data, "data_dir") == "/data/direct"
    assert format_template(data, "{label}") == "\\bf{a}"  # a Literal is never expanded
    chained = {"x": "{y}", "y": "{z}", "z": 5}
    assert format_template(chained, "{x}") == 5


def test_post_call_reformat_chained_calls_and_literal_prefix():
    data = {"a": 5, "g": lambda s: "{a}" + s, "adder": lambda x: lambda y: int(x) + int(y)}
    assert format_template(data, "{adder(1)(2)}") == 3
    assert format_template(data, "{g(z)}") == "5z"
    assert format_template(data, "{!g(z)}") == "{a}z"


def test_key_with_parentheses_via_escape():
    assert format_template({"k(1)": 3}, "{k\\(1\\)}") == 3


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{", "unclosed '{'"),
        ("pre{a", "unclosed '{'"),
        ("}", "unmatched '}' at position 0"),
        ("{}", "empty key"),
        ("{f(1}", "unexpected '}'"),
        ("{f(1)x}", "expected '}' after the call"),
        ("{f(1}", "template '{f(1}'"),
    ],
)
def test_syntax_errors_name_the_template(template, message):
    with pytest.raises(TemplateError, match=message.replace("(", "\\(").replace("{", "\\{")):
        format_template(E, template)


def test_missing_key_error_names_template_key_and_element():
    with pytest.raises(TemplateKeyError) as info:
        dj.run([{"a": 1}, {"b": 2}], lambda x: x)("value {a}")
    err = info.value
    assert isinstance(err, KeyError) and err.index == 1 and err.key == "a"
    assert "template 'value {a}', key 'a', element 1: key 'a' not found; available: ['b']" in str(err)


def test_call_errors():
    with pytest.raises(TemplateError, match="'a' is a int, not callable"):
        format_template(E, "{a(1)}")
    boom = {"f": lambda: 1 / 0}
    with pytest.raises(ZeroDivisionError) as info:
        format_template(boom, "x{f()}")
    assert any("'f()'" in note and "'x{f()}'" in note for note in info.value.__notes__)


def test_cycles_are_reported_not_recursed():
    with pytest.raises(TemplateError, match="cycle in template expansion: self -> self"):
        format_template({"self": "{self}"}, "{self}")
    with pytest.raises(TemplateError, match="x -> y -> x"):
        format_template({"x": "{y}", "y": "{x}"}, "{x}")
    with pytest.raises(TemplateError, match="cycle"):
        format_template({"f": lambda: "{f()}"}, "{f()}")
    with pytest.raises(TemplateError, match="gives '{!f\\(\\)}' again"):
        format_template({"f": lambda: "{!f()}", "v": "{!f()}"}, "{v}")


def test_non_string_template_rejected():
    with pytest.raises(TypeError, match="expects a str template"):
        format_template(E, 3)
