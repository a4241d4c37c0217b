"""List filters: an empty list accepts nothing, a missing one everything (R27)."""

from __future__ import annotations

from pinwarden.api.filters import accepted


def test_a_missing_filter_accepts_everything() -> None:
    assert accepted(None) is None
    assert accepted(None, None) is None


def test_an_empty_list_accepts_nothing_whatever_the_singular_says() -> None:
    assert accepted([]) == frozenset()
    assert accepted([], "a") == frozenset()


def test_a_list_and_its_singular_form_combine_with_and() -> None:
    assert accepted(["a", "b"]) == {"a", "b"}
    assert accepted(None, "a") == {"a"}
    assert accepted(["a", "b"], "b") == {"b"}
    assert accepted(["a"], "b") == frozenset()
