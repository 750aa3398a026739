"""Invisible format characters, taken out of texts when they are accepted.

Unicode's format characters (category Cf) draw nothing: zero-width space and joiners, bidi
controls, the BOM, the word joiner, the soft hyphen, tag characters…  Pasted from a web page or
a word processor they cost a whole UCS-2 encoding and parts the sender cannot see, and they are
how a second signature or a blocked word is hidden from a reader.  So they are removed from
every message at acceptance, before its rules, its segmentation and its storage: ``fee_num``
counts what goes out, and no phone receives them.  The sender is not refused for them — the
text means the same without them.

Kept, because they are part of what a reader sees:

* a zero-width joiner between two emoji (``👨‍👩‍👧``, ``🏳️‍🌈``, ``🧑🏽‍💻``): an emoji ZWJ sequence;
* the tag characters of an emoji tag sequence (``🏴󠁧󠁢󠁳󠁣󠁴󠁿``, a subdivision flag);
* a zero-width (non-)joiner between letters of a script whose spelling uses them (Persian
  ``می‌خواهم``, the Indic scripts' conjuncts…);
* the prepended concatenation marks (``؀`` ARABIC NUMBER SIGN …), which are visible.

Unicode properties (Cf, Extended_Pictographic, scripts) come from the ``regex`` module, whose
tables follow the current Unicode version; Python's own ``re`` has no property classes.
"""

from __future__ import annotations

import regex

__all__ = ["strip_format"]

# Scripts in which ZWJ/ZWNJ are part of spelling (joining and Brahmic scripts).
_JOINING = (r"[\p{Arabic}\p{Syriac}\p{Nko}\p{Mongolian}\p{Devanagari}\p{Bengali}\p{Gurmukhi}"
            r"\p{Gujarati}\p{Oriya}\p{Tamil}\p{Telugu}\p{Kannada}\p{Malayalam}\p{Sinhala}"
            r"\p{Khmer}\p{Myanmar}\p{Tibetan}]")
_EMOJI = r"\p{Extended_Pictographic}"

# Each keepable character is matched first and only then looked around (a lookbehind that
# ends with it), so that the engine tries the costly alternatives only where one stands: a
# text of 490 joiners takes about as long as any other.
_FORMAT = regex.compile(
    r"(?P<keep>"
    r"\U0001F3F4[\U000E0020-\U000E007E]+\U000E007F"  # an emoji tag sequence, kept whole
    rf"|\u200D(?<={_EMOJI}[\uFE0F\p{{Emoji_Modifier}}]?\u200D)(?={_EMOJI})"  # emoji ZWJ sequence
    rf"|[\u200C\u200D](?<={_JOINING}\p{{M}}*[\u200C\u200D])(?={_JOINING})"  # inside a word
    r")"
    r"|[\p{Cf}--\p{Prepended_Concatenation_Mark}]+",  # a run of the rest: one match
    regex.V1,
)


def strip_format(text: str) -> str:
    """``text`` without its invisible format characters (see the module's docstring)."""
    if text.isprintable():  # the usual case, in C: no Cf (nor Cc, Zl, Zp, unassigned) at all
        return text
    return _FORMAT.sub(r"\g<keep>", text)  # what is kept stays, the rest goes
