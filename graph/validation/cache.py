"""What validation learns about a document, kept for the next request that sends it.

Clients send the same few documents over and over (an app's queries are fixed strings),
so validating each one per request re-walks the same tree for the same answer. Here a
document's findings are computed once and looked up by its text (strawberry's
``ParserCache`` hands back the same parsed document for the same text):

- graphql-core's validation (the schema's rules, ours included) and the NUL scan of its
  literals do not depend on the variables: one answer per document.
- The shape analysis (depth, aliases, cost, expensive fields) reads a few variables
  (``first``, ``orderBy``, ``filter``...). Each answer is stored with the variables the
  analysis read and their values; a later request whose variables agree on those gets it
  back without a walk. The analysis is deterministic, so agreeing on everything it read
  means it would take the same path and reach the same answer.

Both levels are bounded LRU maps: a client sending endless distinct documents (or
variable values) evicts old entries, it cannot grow memory.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

DOCUMENTS_MAX = 256  # distinct (document, operation, limits) entries kept
VARIANTS_MAX = 16  # analyses kept per document, one per distinct value of what they read
_MISSING = "\x00missing"  # a variable the request did not send (the operation's default applies)


class LRU:
    """A small thread-safe least-recently-used map."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._data: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)


def canonical(value: Any) -> str:
    """A value as text that tells ``true`` from ``1`` and ignores key order."""
    return json.dumps(value, sort_keys=True, default=repr)


class ReadRecorder(dict):
    """The request's variables, remembering which ones were read (and what they held)."""

    def __init__(self, variables: dict) -> None:
        super().__init__(variables)
        self.reads: dict[str, str] = {}

    def _record(self, name: str) -> None:
        if name not in self.reads:
            present = dict.__contains__(self, name)
            self.reads[name] = canonical(dict.__getitem__(self, name)) if present else _MISSING

    def __contains__(self, name: object) -> bool:
        if isinstance(name, str):
            self._record(name)
        return dict.__contains__(self, name)

    def __getitem__(self, name: str) -> Any:
        self._record(name)
        return dict.__getitem__(self, name)

    def get(self, name: str, default: Any = None) -> Any:
        self._record(name)
        return dict.get(self, name, default)


def _agrees(reads: dict[str, str], variables: dict) -> bool:
    for name, value in reads.items():
        if name in variables:
            if value == _MISSING or canonical(variables[name]) != value:
                return False
        elif value != _MISSING:
            return False
    return True


@dataclass
class DocumentEntry:
    """One document's findings: validation (computed when first needed) and the analyses
    by the variable values they read."""

    validation: list | None = None
    variants: list[tuple[dict[str, str], Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def analysis(self, variables: dict, analyse) -> Any:
        """The answer of ``analyse(variables)`` (a function of the variables it reads)."""
        with self.lock:
            for index, (reads, answer) in enumerate(self.variants):
                if _agrees(reads, variables):
                    if index:  # most recently used first
                        self.variants.insert(0, self.variants.pop(index))
                    return answer
        recorder = ReadRecorder(variables)
        answer = analyse(recorder)
        with self.lock:
            self.variants.insert(0, (recorder.reads, answer))
            del self.variants[VARIANTS_MAX:]
        return answer


documents = LRU(DOCUMENTS_MAX)


def entry_for(key: tuple) -> DocumentEntry:
    entry = documents.get(key)
    if entry is None:
        entry = DocumentEntry()
        documents.put(key, entry)
    return entry
