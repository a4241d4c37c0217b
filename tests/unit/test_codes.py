"""PIN constraints (§7.4) and generation."""

import random

import pytest

from pinwarden.domain.codes import (
    CodeRules,
    NoCodeAvailable,
    choose_length,
    code_violations,
    generate_code,
)


def rules(lengths: tuple[int, ...] = (4, 5, 6), *constraints: str) -> CodeRules:
    return CodeRules(lengths, frozenset(constraints))


@pytest.mark.parametrize(
    ("constraint", "bad", "good"),
    [
        ("no_zeros", "1203", "1293"),
        ("cannot_start_with_12", "1293", "2193"),
        ("no_triple_consecutive_ints", "5111", "5119"),
        ("no_triple_consecutive_ints", "1345", "1355"),
        ("no_triple_consecutive_ints", "9543", "9553"),
        ("no_ascending_or_descending_sequence", "3456", "3457"),
        ("no_ascending_or_descending_sequence", "6543", "6542"),
        ("at_least_three_unique_digits", "1121", "1123"),
        ("no_all_same_digits", "7777", "7778"),
        ("unique_first_four_digits", "1231", "1234"),
        ("cannot_contain_089", "1238", "1237"),
        ("cannot_contain_0789", "1237", "1236"),
    ],
)
def test_each_constraint_rejects_and_accepts(constraint: str, bad: str, good: str) -> None:
    r = rules((4,), constraint)
    problems = code_violations(bad, r)
    assert len(problems) == 1 and constraint in problems[0]
    assert code_violations(good, r) == []


def test_length_must_be_supported_and_message_lists_lengths() -> None:
    problems = code_violations("123", rules((4, 6)))
    assert problems == ["code length 3 is not supported (supported lengths: 4, 6)"]


def test_leading_zero_is_a_legal_pin() -> None:
    assert code_violations("0123", rules((4,))) == []


def test_device_that_assigns_pins_rejects_any_code() -> None:
    assert code_violations("4821", rules((4,), "cannot_specify_pin_code"))


def test_choose_length_prefers_supported_preference_else_shortest() -> None:
    assert choose_length(rules((4, 6, 8)), 6) == 6
    assert choose_length(rules((6, 8)), 5) == 6
    assert choose_length(rules((8, 6)), None) == 6


@pytest.mark.parametrize(
    "r",
    [
        rules((6,), "no_zeros", "cannot_start_with_12"),
        rules((4, 5, 6), "cannot_contain_0789", "no_triple_consecutive_ints"),
        rules((5,), "at_least_three_unique_digits", "no_ascending_or_descending_sequence"),
        rules((4,), "unique_first_four_digits", "cannot_contain_089"),
    ],
)
def test_generated_codes_always_satisfy_the_rules(r: CodeRules) -> None:
    rng = random.Random(7)
    for _ in range(300):
        code = generate_code(r, rng)
        assert code_violations(code, r) == []
        assert len(set(code)) > 1


def test_generation_honours_preferred_length_and_avoid_set() -> None:
    rng = random.Random(1)
    r = rules((4, 6))
    assert len(generate_code(r, rng, preferred_length=6)) == 6
    taken = {f"{n:04d}" for n in range(10_000)} - {"4821"}
    assert generate_code(r, rng, avoid=taken) == "4821"


def test_generation_reports_impossible_rules() -> None:
    # Only digits 1-6, four long, all different and no runs of three: exists; with
    # all PINs taken it cannot.
    r = rules((4,), "cannot_contain_0789")
    everything = {
        f"{a}{b}{c}{d}" for a in "123456" for b in "123456" for c in "123456" for d in "123456"
    }
    with pytest.raises(NoCodeAvailable):
        generate_code(r, random.Random(0), avoid=everything, attempts=200)
