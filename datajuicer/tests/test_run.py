"""``run`` mechanics: threads, ordering, error reporting, outcomes, stored values (README "`run`")."""

import threading
import time

import pytest

import datajuicer as dj


def test_threads_keep_grid_order_and_run_concurrently():
    barrier = threading.Barrier(4, timeout=5)  # only passes if 4 elements really run at the same time

    def slow(x):
        barrier.wait()
        time.sleep(0.01 * (4 - x))
        return x

    assert dj.run([{"x": i} for i in range(4)], slow, n_threads=4)("{x}") == [0, 1, 2, 3]


@pytest.mark.parametrize("n_threads", [1, 3])
def test_failures_do_not_stop_other_elements_and_name_the_index(n_threads):
    ran = []

    def picky(x):
        ran.append(x)
        if x in (1, 3):
            raise ValueError(f"bad {x}")
        return x

    with pytest.raises(ValueError, match="bad 1") as info:
        dj.run([{"x": i} for i in range(5)], picky, n_threads=n_threads)("{x}")
    assert sorted(ran) == [0, 1, 2, 3, 4]
    assert "element 1 of 5 failed; failed elements: [1, 3]" in info.value.__notes__[-1]
    assert info.value.datajuicer_index == 1


def test_func_key_must_give_a_callable():
    with pytest.raises(TypeError, match="func key 'f' gives a int, not a callable, for element 0"):
        dj.run([{"f": 1}], "f")()
    with pytest.raises(TypeError, match="grid element 0 is a list"):
        dj.run([[1]], print)()


def test_non_string_arguments_are_shared_and_literals_pass_unformatted():
    shared = {"k": 1}
    out = dj.run([{"a": 1}, {"a": 2}], lambda obj, s: (obj, s))(shared, dj.Literal("{a}"))
    assert out[0][0] is shared and out[1][0] is shared and out == [(shared, "{a}"), (shared, "{a}")]


def test_stored_strings_are_never_template_expanded():
    out = dj.run([{"a": 1}], lambda: {"evil": "{a}", "n": 2}, store_key="*")()
    assert dj.get(out[0], "evil") == "{a}" and isinstance(out[0]["evil"], dj.Literal)
    named = dj.run(out, lambda: "{a}", store_key="text")()
    assert dj.format_template(named[0], "{text}") == "{a}"


def test_store_key_star_needs_a_mapping():
    with pytest.raises(TypeError, match=r"store_key='\*' needs a dict result, but <lambda> returned a int"):
        dj.run([{}], lambda: 1, store_key="*")()


def test_run_result_counts_and_session_ids(cache_dir):
    @dj.cachable()
    def inc(x):
        return x + 1

    first = dj.run([{"x": 1}, {"x": 2}], inc, cache_dir=cache_dir)("{x}")
    second = dj.run([{"x": 1}, {"x": 3}], inc, cache_dir=cache_dir)("{x}")
    assert first.counts() == {"computed": 2} and second.counts() == {"loaded": 1, "computed": 1}
    assert second.session_ids[0] == first.session_ids[0] and second.session_ids[1] not in first.session_ids
    assert isinstance(first, list) and first == [2, 3]


def test_validation_of_arguments():
    with pytest.raises(ValueError, match="n_threads=0"):
        dj.run([{}], print, n_threads=0)
    with pytest.raises(TypeError, match="store_key=1"):
        dj.run([{}], print, store_key=1)
