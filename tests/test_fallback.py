"""``ct.with_fallback``: an untouched workshop's experiments run with a stand-in, and say so."""

import pytest

import convtrain as ct


def stub(x):
    raise NotImplementedError()


def test_the_stub_switches_to_the_fallback_once_and_says_so(capsys):
    double = ct.with_fallback(stub, lambda x: 2 * x, name="double")
    assert double(2) == 4 and double(3) == 6
    out = capsys.readouterr().out
    assert out.count("double is not written yet") == 1 and double.uses_fallback()


def test_a_written_function_is_used_and_nothing_is_printed(capsys):
    def mine(x):
        return x + 1

    wrapped = ct.with_fallback(mine, lambda x: 0)
    assert wrapped(1) == 2 and capsys.readouterr().out == "" and not wrapped.uses_fallback()
    assert wrapped.__name__ == "mine"


def test_other_errors_are_bugs_in_the_answer_and_are_raised(capsys):
    def broken(x):
        raise ValueError("shape mismatch")

    with pytest.raises(ValueError, match="shape mismatch"):
        ct.with_fallback(broken, lambda x: 0)(1)
    assert capsys.readouterr().out == ""
