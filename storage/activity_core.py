"""The rules of polls, quizzes and word clouds, free of I/O: checked answers, normalised
terms, tallies and quiz scores.

``storage/repo/activity_answers.py`` stores what these functions accept and reads back
what they count; tests/test_activity_core.py drives them synchronously.

A word cloud counts *terms*: an answer normalised so that "Python", " python " and
"PYTHON!" are one word (Unicode NFKC, case folded, inner whitespace collapsed to one
space, punctuation and symbols trimmed from both ends). What a participant typed is
kept as they typed it (their data export shows it); the room sees only terms.
"""

from __future__ import annotations

import enum
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from storage.errors import DomainError

MAX_OPTIONS = 12
MAX_OPTION_CHARS = 200
MAX_TITLE_CHARS = 300
MAX_TERM_CHARS = 60  # a word cloud answer: a word or a short phrase
MAX_TIME_LIMIT_SECS = 3600
CLOUD_TOP = 60  # the word cloud shows the most frequent terms, not every one


class Kind(enum.StrEnum):
    POLL = "poll"
    WORDCLOUD = "wordcloud"


class State(enum.StrEnum):
    """An activity's life: DRAFT -> OPEN -> CLOSED (-> OPEN again: reopened)."""

    DRAFT = "draft"  # prepared, seen by trainers only
    OPEN = "open"  # taking answers
    CLOSED = "closed"  # no more answers; results may be shown or hidden


TRANSITIONS: dict[State, frozenset[State]] = {
    State.DRAFT: frozenset({State.OPEN}),
    State.OPEN: frozenset({State.CLOSED}),
    State.CLOSED: frozenset({State.OPEN}),
}


def check_transition(current: str, wanted: str) -> State:
    try:
        now, target = State(current), State(wanted)
    except ValueError:
        raise DomainError("bad_state", f"no such state: {wanted!r}") from None
    if target not in TRANSITIONS[now]:
        raise DomainError(
            "bad_transition", f"an activity that is {now.value} cannot be {target.value}",
            status=409,
        )
    return target


@dataclass(frozen=True, slots=True)
class PollShape:
    """What a poll's answers are checked against."""

    options: int  # how many options
    multiple: bool  # several options may be chosen


def check_choices(shape: PollShape, choices: Sequence[int]) -> tuple[int, ...]:
    """The chosen options, sorted and without repeats; refused when they do not fit."""
    picked = tuple(sorted(set(choices)))
    if not picked:
        raise DomainError("bad_answer", "choose at least one option", status=422)
    if any(c < 0 or c >= shape.options for c in picked):
        raise DomainError("bad_answer", f"options are numbered 0 to {shape.options - 1}",
                          status=422)
    if len(picked) > 1 and not shape.multiple:
        raise DomainError("bad_answer", "this poll takes one option", status=422)
    return picked


def check_options(options: Sequence[str], correct: Sequence[int], multiple: bool) -> None:
    """A poll's options and its correct answers (quiz mode) as a trainer sets them."""
    if not 2 <= len(options) <= MAX_OPTIONS:
        raise DomainError("bad_options", f"a poll has 2 to {MAX_OPTIONS} options", status=422)
    if len({o.strip().casefold() for o in options}) != len(options):
        raise DomainError("bad_options", "two options are the same", status=422)
    if any(not o.strip() for o in options):
        raise DomainError("bad_options", "an option is empty", status=422)
    if any(c < 0 or c >= len(options) for c in correct) or len(set(correct)) != len(correct):
        raise DomainError("bad_options", "a correct answer names no option", status=422)
    if len(correct) > 1 and not multiple:
        raise DomainError("bad_options", "a single-choice quiz has one correct option",
                          status=422)


_TRIM = ("P", "S")  # Unicode punctuation and symbol categories


def normalise_term(text: str) -> str:
    """One word cloud term: NFKC, case folded, whitespace collapsed, punctuation trimmed.

    "" when nothing is left (an answer of only punctuation is refused by the caller).
    """
    folded = unicodedata.normalize("NFKC", text).casefold()
    # Control and format characters (zero-width spaces, bidi marks) are not words.
    kept = "".join(
        " " if ch.isspace() else ch
        for ch in folded
        if ch.isspace() or unicodedata.category(ch)[0] != "C"
    )
    words = " ".join(kept.split())
    start, end = 0, len(words)
    while start < end and unicodedata.category(words[start])[0] in _TRIM:
        start += 1
    while end > start and unicodedata.category(words[end - 1])[0] in _TRIM:
        end -= 1
    # Trimming can uncover a space next to the removed marks ("! hi"): strip again.
    term = words[start:end].strip()
    # NFKC after case folding: folding can undo a composition (e.g. "ǅ").
    return unicodedata.normalize("NFKC", term)[:MAX_TERM_CHARS]


def check_term(text: str) -> str:
    if len(text) > MAX_TERM_CHARS * 2:
        raise DomainError("bad_answer", f"at most {MAX_TERM_CHARS} characters", status=422)
    term = normalise_term(text)
    if not term:
        raise DomainError("bad_answer", "the answer has no word in it", status=422)
    return term


def tally_choices(options: int, answers: Iterable[Sequence[int]]) -> list[int]:
    """How many answers chose each option (an answer of several options counts in each)."""
    counts = [0] * options
    for choices in answers:
        for c in choices:
            if 0 <= c < options:  # an option removed by an edit is not counted
                counts[c] += 1
    return counts


def tally_terms(
    terms: Iterable[str], hidden: Iterable[str] = (), top: int = CLOUD_TOP
) -> list[tuple[str, int]]:
    """The ``top`` most frequent terms, hidden ones left out; ties in alphabetical order."""
    counts = Counter(terms)
    for term in hidden:
        counts.pop(term, None)
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]


def is_correct(choices: Sequence[int], correct: Sequence[int]) -> bool:
    """Quiz mode: right only when exactly the correct options were chosen."""
    return bool(correct) and sorted(set(choices)) == sorted(set(correct))


@dataclass(frozen=True, slots=True)
class QuizScore:
    user_id: int
    correct: int  # questions answered right
    answered: int  # questions answered


def quiz_scores(
    answers: Iterable[tuple[int, int, Sequence[int]]], correct: Mapping[int, Sequence[int]]
) -> list[QuizScore]:
    """Scores from (user id, activity id, choices) over the quizzes in ``correct``
    (activity id -> its correct options); best first, then by user id."""
    right: Counter[int] = Counter()
    answered: Counter[int] = Counter()
    for user_id, activity_id, choices in answers:
        if activity_id not in correct:
            continue
        answered[user_id] += 1
        if is_correct(choices, correct[activity_id]):
            right[user_id] += 1
    return sorted(
        (QuizScore(u, right[u], n) for u, n in answered.items()),
        key=lambda s: (-s.correct, s.user_id),
    )
