"""Sensitive-word screening of promotional SMS.

Carriers refuse marketing SMS that contain blocked terms, and senders who want to get through
disguise them: ``代 開 發 票``, ``赌*博``, ``ＢＥＴ３６５``.  Screening therefore compares a
*normalised* text with *normalised* lexicon entries: :func:`normalize` folds width, case and
traditional characters and drops everything that is neither a letter nor a digit, so the usual
evasions collapse onto the plain spelling.  Matching is one Aho-Corasick pass (``ahocorasick_rs``,
a binding of the Rust ``aho-corasick`` crate, whose DFA scans a 300-character text in about 1 us;
pyahocorasick took 10 us), so the cost does not grow with the size of the lexicon.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from importlib import resources

import ahocorasick_rs
import numpy as np
import opencc

__all__ = ["Lexicon", "default_lexicon", "normalize", "normalize_many"]

_DATA_FILE = "sensitive_words.txt"

# Planes worth a table entry beyond the BMP: symbols and emoji (1), CJK extensions and the CJK
# compatibility supplement (2, 3), tags and variation selectors (14).  Their unassigned and
# private-use code points are left alone (listing them would bloat the table), except in the
# emoji and pictograph blocks: emoji newer than Python's Unicode database are unassigned to it,
# yet phones render them, so they make good separators and are dropped too.
_ASTRAL = (range(0x10000, 0x40000), range(0xE0000, 0xF0000))
_EMOJI_AREA = range(0x1F000, 0x20000)


# --- normalisation ------------------------------------------------------------------------------


def normalize(text: str) -> str:
    """Fold ``text`` so that disguised spellings of a word become the plain one.

    Full-width forms and compatibility characters become their NFKC form, letters are casefolded,
    traditional characters become simplified (character by character, OpenCC ``t2s``), and every
    character that is not a letter or a digit (spaces, punctuation, symbols, emoji, zero-width
    marks, combining marks) is dropped.  One ``str.translate`` with a table built once: the
    screening runs on every message of every batch, so it has to be cheap.

    A text within the BMP (nearly all: Chinese, ASCII, CJK punctuation) is translated through
    a list indexed by code point, which ``str.translate`` reads without hashing each
    character; a text with a character beyond it (an emoji) through the dict.  One table
    either way, so the result is the same.
    """
    if _BEYOND_BMP(text) is None:
        return text.translate(_bmp_list())
    return text.translate(_table())


_BEYOND_BMP = re.compile("[\U00010000-\U0010FFFF]").search


@functools.cache
def _bmp_list() -> list[str | None]:
    """:func:`_table` for the BMP, as a list (every BMP code point has its entry)."""
    table = _table()
    return [table[cp] for cp in range(0x10000)]


@functools.cache
def _table() -> dict[int, str | None]:
    """The translate table of :func:`normalize`, built at first use (about 0.25 s)."""
    chars = [chr(cp) for cp in _code_points()]
    folded = {c: _fold(c) for c in chars}
    simplified = _t2s({x for s in folded.values() for x in s if _is_cjk_candidate(x)})
    table: dict[int, str | None] = {}
    for c, s in folded.items():
        out = "".join(simplified.get(x, x) for x in s)
        if out != c:
            table[ord(c)] = out or None
    table = _close(table)
    # Every BMP code point gets an entry, identity ones included: str.translate pays for a miss
    # with a raised and cleared KeyError, which made normalize 40% slower on Chinese text.
    for cp in range(0x10000):
        table.setdefault(cp, chr(cp))
    return table


def _code_points() -> Iterator[int]:
    """Every BMP code point; in :data:`_ASTRAL`, the assigned non-private ones and emoji."""
    yield from range(0x10000)
    for plane in _ASTRAL:
        for cp in plane:
            if cp in _EMOJI_AREA or unicodedata.category(chr(cp)) not in ("Cn", "Co"):
                yield cp


def _is_kept(ch: str) -> bool:
    """Letters (L*) and digits/numbers (N*) carry the meaning; everything else is noise."""
    return unicodedata.category(ch)[0] in "LN"


def _fold(ch: str) -> str:
    """NFKC + casefold of one character, keeping only its letters and digits.

    NFKC comes first so that compatibility forms of letters survive: the Kangxi radical ``⼤``
    (a symbol) becomes ``大``, ``ｖ`` and ``𝐯`` become ``v``, ``①`` becomes ``1``.  Filtering
    comes before casefold too, which would turn the combining mark U+0345 into the letter ι,
    and after it, which can leave a combining dot (``İ`` → ``i̇``).
    """
    if _is_kept(ch) and unicodedata.is_normalized("NFKC", ch) and ch.casefold() == ch:
        return ch
    kept = "".join(x for x in unicodedata.normalize("NFKC", ch) if _is_kept(x))
    return "".join(x for x in kept.casefold() if _is_kept(x))


def _is_cjk_candidate(ch: str) -> bool:
    """Only other-letters (Lo: CJK ideographs among them) can have a traditional form."""
    return unicodedata.category(ch) == "Lo"


def _t2s(chars: set[str]) -> dict[str, str]:
    """Traditional→simplified of each character, in one OpenCC call (per-character fallback).

    Characters are joined by newlines so the converter cannot read them as phrases; if the output
    does not split back into as many pieces, convert one character at a time instead (slower).
    """
    converter = opencc.OpenCC("t2s")
    ordered = sorted(chars)
    pieces = converter.convert("\n".join(ordered)).split("\n")
    if len(pieces) != len(ordered):
        pieces = [converter.convert(c) for c in ordered]
    return {c: p for c, p in zip(ordered, pieces) if p != c}


def _close(table: dict[int, str | None]) -> dict[int, str | None]:
    """Re-apply the table to its own outputs until stable, so that normalize is idempotent.

    An output may itself be mappable (casefold can leave a non-NFKC character, t2s can chain);
    a couple of passes settle it.
    """
    for _ in range(8):
        changed = False
        for cp, out in table.items():
            again = out.translate(table) if out else out
            if again != out:
                table[cp], changed = again or None, True
        if not changed:
            return table
    raise RuntimeError("normalisation table does not converge")


def normalize_many(texts: Sequence[str]) -> tuple[str, list[int]]:
    """``"".join(normalize(t) for t in texts)`` and where each normalised text ends in it.

    The batch's texts go through the table at once, as one array of code points indexed into
    :func:`_array_table` (numpy): about 2 us per 300-character text, where ``str.translate``
    takes 8 to 14, since it looks up, and appends, one Python object per character.  The rare
    text with a character that folds into several (``ß``, ``㍿``) is translated on its own.
    """
    if not texts:
        return "", []
    points = np.frombuffer("".join(texts).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    ends = np.cumsum(np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)))
    folded = _array_table()[points]
    kept = folded != 0  # U+0000 is dropped by the table too, so 0 can mean "dropped"
    if not len(points) or folded.max() != _SEVERAL:
        joined = folded[kept].tobytes().decode("utf-32-le", "surrogatepass")
        counted = np.concatenate(([0], np.cumsum(kept)))  # characters kept before each point
        return joined, counted[ends].tolist()
    return _joined(texts)


def _joined(texts: Sequence[str]) -> tuple[str, list[int]]:
    pieces = [normalize(t) for t in texts]
    return "".join(pieces), list(itertools.accumulate(map(len, pieces)))


_SEVERAL = 0xFFFFFFFF  # in _array_table: the code point folds into several characters


@functools.cache
def _array_table() -> np.ndarray:
    """:func:`_table` as an array over every code point: the one character each folds into
    (0: dropped; itself when the table has no entry), or :data:`_SEVERAL`."""
    table = np.arange(0x110000, dtype=np.uint32)
    for cp, out in _table().items():
        table[cp] = 0 if out is None else ord(out) if len(out) == 1 else _SEVERAL
    table[0] = 0
    return table


def _normalize_tracked(text: str) -> tuple[str, list[int]]:
    """``normalize(text)`` plus, for each of its characters, the index it came from in ``text``.

    Slower than :func:`normalize` (a Python loop); used only when positions are wanted.
    """
    table = _table()
    parts: list[str] = []
    origins: list[int] = []
    for i, ch in enumerate(text):
        out = table.get(ord(ch), ch)
        if out:
            parts.append(out)
            origins.extend([i] * len(out))
    return "".join(parts), origins


# --- lexicon ------------------------------------------------------------------------------------


class Lexicon:
    """A set of blocked words, matched against normalised texts.

    Entries are compared after :func:`normalize`, and reported as written in the lexicon, so the
    refusal names the word the sender's own lexicon (or the default one) lists.  Entries that are
    equal after normalisation are kept once (the first one wins); entries that normalise to
    nothing are ignored.  Immutable: :meth:`extend` returns a new lexicon.
    """

    def __init__(self, words: Iterable[str]) -> None:
        self._words: list[str] = []
        keys: dict[str, str] = {}
        for word in words:
            key = normalize(word)
            if key and key not in keys:
                keys[key] = word
                self._words.append(word)
        self._automaton = (
            ahocorasick_rs.AhoCorasick(list(keys), implementation=ahocorasick_rs.Implementation.DFA)
            if keys
            else None
        )

    def _matches(self, normalized: str) -> list[tuple[int, int, int]]:
        """(entry index, start, end) of every match, overlapping ones included, by end."""
        if self._automaton is None:
            return []
        return self._automaton.find_matches_as_indexes(normalized, overlapping=True)

    def find(self, text: str) -> str | None:
        """The entry found in ``text``: the match that ends first, the longest one on a tie.

        Ending first is what a left-to-right reader meets first; the longest of the matches that
        end there is the most specific name for what was found.
        """
        matches = self._matches(normalize(text))
        if not matches:
            return None
        first_end = min(end for _, _, end in matches)
        index, _, _ = min((m for m in matches if m[2] == first_end), key=lambda m: m[1])
        return self._words[index]

    def find_many(self, texts: Sequence[str]) -> list[str | None]:
        """:meth:`find` of each text, in one pass for the batch: the texts normalised at once
        (:func:`normalize_many`) and joined, and the automaton run once over the whole.  A
        match that spans two texts is no match of either."""
        found: list[str | None] = [None] * len(texts)
        joined, ends = normalize_many(texts)
        best: dict[int, tuple[int, int, int]] = {}  # per text: (end, start, entry) of its first match
        for index, start, end in self._matches(joined):
            i = bisect.bisect_right(ends, start)
            if end > ends[i]:
                continue  # runs into the next text
            mine = (end, start, index)
            if i not in best or mine < best[i]:
                best[i] = mine
        for i, (_, _, index) in best.items():
            found[i] = self._words[index]
        return found

    def find_all(self, text: str) -> list[tuple[int, str]]:
        """Every match, as (index in the original ``text`` where it starts, entry).

        The index points at the first character of the spelling the sender used (``代`` in
        ``代 開 發 票``), for highlighting; matches come in the order they end.
        """
        normalized, origins = _normalize_tracked(text)
        matches = sorted(self._matches(normalized), key=lambda m: (m[2], m[1]))
        return [(origins[start], self._words[index]) for index, start, _ in matches]

    def extend(self, words: Iterable[str]) -> Lexicon:
        """A new lexicon with these entries and ``words`` (a project's own words on the default)."""
        return Lexicon([*self._words, *words])

    def __iter__(self) -> Iterator[str]:
        return iter(self._words)

    def __len__(self) -> int:
        return len(self._words)

    def __bool__(self) -> bool:
        """Always true: an empty lexicon is still a lexicon (``if lexicon:`` tests presence)."""
        return True

    def __repr__(self) -> str:
        return f"<Lexicon of {len(self)} words>"


def parse_words(text: str) -> list[str]:
    """The entries of a lexicon file: one per line; blank lines and ``#`` comments skipped."""
    lines = (line.strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


@functools.cache
def default_lexicon() -> Lexicon:
    """The built-in lexicon (``domain/data/sensitive_words.txt``), loaded once."""
    source = resources.files(__package__) / "data" / _DATA_FILE
    return Lexicon(parse_words(source.read_text(encoding="utf-8")))
