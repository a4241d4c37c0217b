"""Whether a PIN shows in some output, with no false alarm from an id holding its digits."""

import re

_UUID = re.compile(r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")


def shows_pin(pin: str, text: str) -> bool:
    """True when ``pin`` appears in ``text`` as a word of its own, outside any UUID.

    A random UUID holds a given four-digit run about once in two thousand, and tables may
    cut ids short, which made "the PIN is not printed" assertions flaky.
    """
    word = rf"(?<![0-9A-Za-z]){re.escape(pin)}(?![0-9A-Za-z])"
    return re.search(word, _UUID.sub("", text)) is not None
