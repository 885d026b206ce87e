"""How the simulator puts a workspace function's body in where a query calls it (pure)."""

import pytest

from controller.simulator.kql_functions import Function, FunctionCallError, expand, parse_parameters, split_top_level

JOB = Function("SlurmJob", parse_parameters("jobId:long"), "let _c = T | where JobId == jobId;\n_c | project Message")
WINDOW = Function("Window", parse_parameters("since:datetime, until:datetime = datetime(2030-01-01)"),
                  "T | where TimeGenerated between (since .. until)")
FUNCTIONS = {f.alias: f for f in (JOB, WINDOW)}


def test_a_call_becomes_its_arguments_its_lets_and_its_last_statement():
    assert expand('SlurmJob(123) | where Level == "error"', FUNCTIONS) == (
        'let jobId = 123;let _c = T | where JobId == jobId;_c | project Message | where Level == "error"')
    assert expand("let j = 5; let x = SlurmJob(j); x | count", FUNCTIONS) == (
        "let j = 5;let jobId = j;let _c = T | where JobId == jobId; let x = _c | project Message; x | count")


def test_defaults_fill_missing_arguments_and_nested_calls_stay_whole():
    assert expand("Window(ago(1h))", FUNCTIONS).startswith("let since = ago(1h);let until = datetime(2030-01-01);")
    assert expand('Window(todatetime("2026-01-01, 10:00"), now())', FUNCTIONS).startswith(
        'let since = todatetime("2026-01-01, 10:00");let until = now();')


def test_queries_without_a_call_are_left_as_they_are():
    for query in ("T | take 1", 'T | where Message has "SlurmJob(3)"', "T | extend SlurmJobCount = 1"):
        assert expand(query, FUNCTIONS) == query


@pytest.mark.parametrize("query, reason", [
    ("union SlurmJob(1), T", "only where it begins a statement"),
    ("SlurmJob()", "argument 'jobId' is missing"),
    ("SlurmJob(1, 2)", "takes 1 arguments, 2 given"),
    ("SlurmJob | take 1", "call it as SlurmJob(...)"),
    ("SlurmJob(1", "not closed"),
])
def test_what_it_cant_expand_is_refused_with_the_reason(query, reason):
    with pytest.raises(FunctionCallError, match=reason.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        expand(query, FUNCTIONS)


def test_parameters_in_the_specs_format():
    assert parse_parameters("") == ()
    assert parse_parameters('a:long, b:string = "x, y"') == (("a", "long", None), ("b", "string", '"x, y"'))
    for bad in ("a long", "a:blob", "a:long, a:string", "a:long = 1, b:string"):
        with pytest.raises(ValueError):
            parse_parameters(bad)


def test_splitting_ignores_separators_in_strings_comments_and_brackets():
    assert split_top_level('let a = "x;y"; // c;d\nlet b = f(1;2); @"e;\\"; T', ";") == [
        'let a = "x;y"', " // c;d\nlet b = f(1;2)", ' @"e;\\"', " T"]
