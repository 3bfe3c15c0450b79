"""Incremental text of one generated sequence: whole UTF-8 characters only, and stop strings cut off.

A stop string may arrive split over several tokens, so text that could still become the start of a stop
string is held back until it can no longer match. The text a client streams is therefore always a prefix
of the final text, and the concatenated stream equals the non-streamed answer.
"""

from __future__ import annotations

from collections.abc import Sequence

from dokpa.serve.generate import Utf8StreamDecoder


class StopTextStream:
    """Feed token ids, get back the text that is safe to show now; ``stopped`` once a stop string ends it."""

    def __init__(self, token_bytes: list[bytes], stop: Sequence[str] = ()) -> None:
        self._decoder = Utf8StreamDecoder(token_bytes)
        self.stop = [s for s in stop if s]
        self.text = ""  # everything decoded so far, up to (not including) a stop string once found
        self._emitted = 0
        self.stopped = False

    def _holdback(self) -> int:
        """Length of the longest tail of ``text`` that is a proper prefix of some stop string."""
        best = 0
        for s in self.stop:
            for n in range(min(len(s) - 1, len(self.text)), best, -1):
                if self.text.endswith(s[:n]):
                    best = n
                    break
        return best

    def _take(self, end: int) -> str:
        piece = self.text[self._emitted : end]
        self._emitted = max(self._emitted, end)
        return piece

    def _add(self, piece: str) -> str:
        if self.stopped or not piece:
            return ""
        # Search only where a new match can start: the last (longest stop - 1) old characters onward.
        start = max(0, len(self.text) - max((len(s) for s in self.stop), default=1) + 1)
        self.text += piece
        hits = [p for s in self.stop if (p := self.text.find(s, start)) != -1]
        if hits:
            self.text = self.text[: min(hits)]
            self.stopped = True
            return self._take(len(self.text))
        return self._take(len(self.text) - self._holdback())

    def feed(self, token_id: int) -> str:
        """Add one token; returns the newly safe text (possibly "")."""
        return self._add(self._decoder.feed(token_id))

    def finish(self) -> str:
        """The sequence ended without a stop string: flush held-back bytes and text."""
        if self.stopped:
            return ""
        piece = self._add(self._decoder.flush())
        return piece + self._take(len(self.text))
