"""JSON values: the type of a free-form document stored or sent as JSON.

An audit entry's detail, an outbox message's params and a zone's evidence are documents whose
shape the domain does not fix; they are typed as ``Json`` (or ``JsonObject`` for a top-level
object) rather than ``Any``, so a port says what it carries without naming every key. ``Json``
is a ``TypeAliasType``, recursive by name, so that pydantic reads it too: an answer holding a
document can be declared as an API response.
"""

from collections.abc import Mapping, Sequence
from typing import TypeAlias

from typing_extensions import TypeAliasType

Json = TypeAliasType(
    "Json", "str | int | float | bool | Sequence[Json] | Mapping[str, Json] | None")
"""Any JSON value: a scalar, an array of JSON values, or an object of them."""

JsonObject: TypeAlias = Mapping[str, Json]
"""A JSON object: the shape of a document's top level."""

__all__ = ["Json", "JsonObject"]
