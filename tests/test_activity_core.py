"""The pure core of polls and word clouds: normalised terms, tallies, checks, quiz scores."""

from __future__ import annotations

import pytest

from storage.activity_core import (
    CLOUD_TOP,
    MAX_TERM_CHARS,
    PollShape,
    State,
    check_choices,
    check_options,
    check_term,
    check_transition,
    is_correct,
    normalise_term,
    quiz_scores,
    tally_choices,
    tally_terms,
)
from storage.errors import DomainError


@pytest.mark.parametrize(
    ("typed", "term"),
    [
        ("Python", "python"),
        ("  PYTHON!  ", "python"),
        ("«Python»", "python"),
        ("python...", "python"),
        ("machine \t\n learning", "machine learning"),
        ("Ｐｙｔｈｏｎ", "python"),  # full-width letters: NFKC
        ("ﬁne", "fine"),  # a ligature: NFKC
        ("Straße", "strasse"),  # case folding, not lower()
        ("e\u0301cole", "école"),  # combining accent composed
        ("zero\u200bwidth", "zerowidth"),  # a format character is no letter
        ("¡¿hola?!", "hola"),
        ("C++", "c"),  # symbols at the ends are trimmed too
        ("don't", "don't"),  # inner punctuation stays
        ("👍", ""),  # a symbol alone leaves nothing
        ("!!!", ""),
        ("", ""),
    ],
)
def test_normalise_term(typed: str, term: str) -> None:
    assert normalise_term(typed) == term


def test_normalised_terms_are_short_and_stable() -> None:
    long = "word " * 100
    assert len(normalise_term(long)) <= MAX_TERM_CHARS
    for typed in ("Python", "  ÉCOLE ", "ǅemal"):
        once = normalise_term(typed)
        assert normalise_term(once) == once  # idempotent


def test_check_term_refuses_empty_and_long_answers() -> None:
    assert check_term(" Hello! ") == "hello"
    for bad in ("", "   ", "?!", "x" * (MAX_TERM_CHARS * 2 + 1)):
        with pytest.raises(DomainError) as err:
            check_term(bad)
        assert err.value.code == "bad_answer"


def test_tally_choices_counts_every_chosen_option() -> None:
    assert tally_choices(3, [(0,), (1,), (1,), (0, 2)]) == [2, 2, 1]
    assert tally_choices(2, []) == [0, 0]
    assert tally_choices(2, [(5,)]) == [0, 0]  # out of range: not counted, not a crash


def test_tally_terms_orders_by_count_then_term_and_hides() -> None:
    terms = ["b", "a", "b", "c", "a", "b", "d"]
    assert tally_terms(terms) == [("b", 3), ("a", 2), ("c", 1), ("d", 1)]
    assert tally_terms(terms, hidden=["b"]) == [("a", 2), ("c", 1), ("d", 1)]
    assert tally_terms(terms, top=2) == [("b", 3), ("a", 2)]
    many = [f"w{i}" for i in range(CLOUD_TOP + 10)]
    assert len(tally_terms(many)) == CLOUD_TOP


def test_check_choices() -> None:
    single, multi = PollShape(3, False), PollShape(3, True)
    assert check_choices(single, [2]) == (2,)
    assert check_choices(multi, [2, 0, 2]) == (0, 2)
    for shape, bad in ((single, []), (single, [3]), (single, [-1]), (single, [0, 1])):
        with pytest.raises(DomainError) as err:
            check_choices(shape, bad)
        assert err.value.code == "bad_answer" and err.value.status == 422


def test_check_options() -> None:
    check_options(["a", "b"], [], False)
    check_options(["a", "b", "c"], [0, 2], True)
    for options, correct, multiple in (
        (["a"], [], False),
        (["a", "A"], [], False),
        (["a", " "], [], False),
        (["a", "b"], [2], False),
        (["a", "b"], [0, 1], False),
        (["a", "b"], [0, 0], True),
    ):
        with pytest.raises(DomainError):
            check_options(options, correct, multiple)


def test_transitions() -> None:
    assert check_transition("draft", "open") is State.OPEN
    assert check_transition("open", "closed") is State.CLOSED
    assert check_transition("closed", "open") is State.OPEN  # reopened
    for now, wanted in (("draft", "closed"), ("open", "open"), ("closed", "draft")):
        with pytest.raises(DomainError) as err:
            check_transition(now, wanted)
        assert err.value.code == "bad_transition" and err.value.status == 409
    with pytest.raises(DomainError):
        check_transition("open", "exploded")


def test_quiz_scores() -> None:
    assert is_correct([1], [1]) and not is_correct([1, 2], [1]) and not is_correct([0], [])
    correct = {10: [1], 11: [0, 2]}
    answers = [
        (1, 10, [1]), (1, 11, [2, 0]),  # both right
        (2, 10, [0]), (2, 11, [0, 2]),  # one right
        (3, 10, [0]),  # none right, one answered
        (3, 99, [0]),  # not a quiz: not counted
    ]
    got = [(s.user_id, s.correct, s.answered) for s in quiz_scores(answers, correct)]
    assert got == [(1, 2, 2), (2, 1, 2), (3, 0, 1)]
