"""The loader base class: one instance per request, ORM work in Django's sync thread."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from aiodataloader import DataLoader
from asgiref.sync import sync_to_async

from graph.context import Context


class Loader(DataLoader):
    """Subclasses set ``context_key`` and implement ``load_batch(keys) -> values in key order``.

    ``load_batch`` runs synchronously in Django's thread-sensitive executor, where
    the ORM may be used freely; it is called once per batch of sibling loads.
    """

    context_key: ClassVar[str]

    def __new__(cls, context: Context) -> Loader:
        loaders = context.dataloaders
        if cls.context_key not in loaders:
            loader = super().__new__(cls)
            DataLoader.__init__(loader)
            loader.context = context
            loaders[cls.context_key] = loader
        return loaders[cls.context_key]

    def __init__(self, context: Context) -> None:  # initialised once, in __new__
        pass

    def load_now(self, key: Hashable) -> Any:
        """The value itself when this request already loaded ``key`` (or primed it), else
        the future. graphql-core completes a plain value in the same call; an awaitable
        costs it a coroutine per field per list item (see ``graph.prefetch`` and ``graph.execution``)."""
        future = self.load(key)
        return future.result() if future.done() else future

    async def batch_load_fn(self, keys: Sequence[Hashable]) -> list[Any]:
        result = await sync_to_async(self.load_batch, thread_sensitive=True)(list(keys))
        if isinstance(result, Primed):
            for loader_class, rows in result.primes.items():
                loader = loader_class(self.context)
                for key, value in rows.items():
                    loader.prime(key, value)
            return result.values
        return result

    def load_batch(self, keys: list[Any]) -> list[Any] | Primed:
        """Values in key order; or ``Primed`` to also hand other loaders (or this one)
        what the same query fetched, so that a later load of them costs no query."""
        raise NotImplementedError


@dataclass(frozen=True)
class Primed:
    values: list[Any]
    primes: dict[type[Loader], dict[Hashable, Any]] = field(default_factory=dict)
