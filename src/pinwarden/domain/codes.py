"""PIN constraints (spec §7.4) and PIN generation (R61, R170)."""

from __future__ import annotations

import itertools
import random
from collections.abc import Collection
from dataclasses import dataclass, field


@dataclass(frozen=True)
class CodeRules:
    """What a device accepts as a PIN."""

    supported_code_lengths: tuple[int, ...]
    constraints: frozenset[str] = field(default_factory=frozenset)

    @property
    def cannot_specify_pin_code(self) -> bool:
        return "cannot_specify_pin_code" in self.constraints


def _has_triple_run(code: str) -> bool:
    """Three adjacent digits that are equal or step by +1/-1 (spec §8-A22, strict reading)."""
    digits = [int(c) for c in code]
    for a, b, c in zip(digits, digits[1:], digits[2:], strict=False):
        if b - a == c - b and abs(b - a) <= 1:
            return True
    return False


def _is_full_sequence(code: str) -> bool:
    steps = {int(b) - int(a) for a, b in itertools.pairwise(code)}
    return steps in ({1}, {-1})


def code_violations(code: str, rules: CodeRules) -> list[str]:
    """Human-readable reasons ``code`` is not accepted by a device with ``rules``."""
    problems: list[str] = []
    if rules.cannot_specify_pin_code:
        return ["this device assigns its own PINs; a code cannot be specified"]
    if rules.supported_code_lengths and len(code) not in rules.supported_code_lengths:
        lengths = ", ".join(str(n) for n in rules.supported_code_lengths)
        problems.append(f"code length {len(code)} is not supported (supported lengths: {lengths})")
    c = rules.constraints
    if "no_zeros" in c and "0" in code:
        problems.append("code cannot contain the digit 0 (no_zeros)")
    if "cannot_contain_089" in c and set(code) & set("089"):
        problems.append("code cannot contain the digits 0, 8 or 9 (cannot_contain_089)")
    if "cannot_contain_0789" in c and set(code) & set("0789"):
        problems.append("code cannot contain the digits 0, 7, 8 or 9 (cannot_contain_0789)")
    if "cannot_start_with_12" in c and code.startswith("12"):
        problems.append("code cannot start with 12 (cannot_start_with_12)")
    if "no_triple_consecutive_ints" in c and _has_triple_run(code):
        problems.append(
            "code cannot contain three repeated or consecutive digits (no_triple_consecutive_ints)"
        )
    if "no_ascending_or_descending_sequence" in c and _is_full_sequence(code):
        problems.append(
            "code cannot be an ascending or descending sequence "
            "(no_ascending_or_descending_sequence)"
        )
    if "at_least_three_unique_digits" in c and len(set(code)) < 3:
        problems.append("code needs at least three different digits (at_least_three_unique_digits)")
    if "no_all_same_digits" in c and len(set(code)) == 1:
        problems.append("code cannot repeat a single digit (no_all_same_digits)")
    if "unique_first_four_digits" in c and len(set(code[:4])) < 4:
        problems.append("the first four digits must all differ (unique_first_four_digits)")
    return problems


_ALWAYS_FOR_GENERATED = frozenset({"no_all_same_digits", "no_ascending_or_descending_sequence"})


def choose_length(rules: CodeRules, preferred: int | None) -> int:
    """``preferred`` if the device supports it, else the shortest supported length (R61)."""
    lengths = sorted(rules.supported_code_lengths) or [4]
    if preferred is not None and preferred in lengths:
        return preferred
    return lengths[0]


class NoCodeAvailable(Exception):
    """No PIN satisfies the rules (and avoids the excluded set)."""


def generate_code(
    rules: CodeRules,
    rng: random.Random,
    preferred_length: int | None = None,
    avoid: Collection[str] = (),
    attempts: int = 2000,
) -> str:
    """A random PIN that the device accepts and that is not in ``avoid``."""
    length = choose_length(rules, preferred_length)
    alphabet = "0123456789"
    for forbidden, constraint in (
        ("0", "no_zeros"),
        ("089", "cannot_contain_089"),
        ("0789", "cannot_contain_0789"),
    ):
        if constraint in rules.constraints:
            alphabet = "".join(d for d in alphabet if d not in forbidden)
    # Generated PINs are never trivially guessable, whatever the device tolerates.
    strict = CodeRules(
        rules.supported_code_lengths,
        (rules.constraints - {"cannot_specify_pin_code"}) | _ALWAYS_FOR_GENERATED,
    )
    for _ in range(attempts):
        candidate = "".join(rng.choice(alphabet) for _ in range(length))
        if candidate not in avoid and not code_violations(candidate, strict):
            return candidate
    # Random draws keep missing: the space is nearly used up. Search it exhaustively
    # where that is cheap, so "no code available" is a fact and not bad luck.
    if len(alphabet) ** length <= 1_000_000:
        remaining = [
            c
            for c in ("".join(p) for p in itertools.product(alphabet, repeat=length))
            if c not in avoid and not code_violations(c, strict)
        ]
        if remaining:
            return rng.choice(remaining)
    raise NoCodeAvailable(f"no {length}-digit code satisfies the device's constraints")


def shared_rules(rules: Collection[CodeRules]) -> CodeRules | None:
    """Rules a PIN must meet to be valid on every device at once (R74): the lengths they
    all support and every constraint any of them has; None when no length is common."""
    lengths: set[int] | None = None
    constraints: frozenset[str] = frozenset()
    for r in rules:
        if r.supported_code_lengths:
            mine = set(r.supported_code_lengths)
            lengths = mine if lengths is None else lengths & mine
        constraints |= r.constraints
    if lengths is not None and not lengths:
        return None
    return CodeRules(tuple(sorted(lengths or ())), constraints)
