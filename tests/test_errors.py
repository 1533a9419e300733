"""User-facing errors: one line, choices listed in their declared order."""

from __future__ import annotations

import pytest

from lit_srl.errors import LitSrlError, check_choice


def test_a_message_is_folded_onto_one_line():
    assert str(LitSrlError("file x.txt\n  is empty;\tadd text")) == "file x.txt is empty; add text"


def test_it_is_a_value_error():
    assert issubclass(LitSrlError, ValueError)


def test_check_choice_returns_a_valid_value_and_lists_choices_in_declared_order():
    assert check_choice("pooler", "avg", ("cls", "avg")) == "avg"
    with pytest.raises(LitSrlError, match=r"unknown pooler 'max'; valid choices: cls, avg$"):
        check_choice("pooler", "max", ("cls", "avg"))
    with pytest.raises(LitSrlError, match=r"valid choices: a, b$"):
        check_choice("kind", "c", {"b", "a"})
