"""The base class of every event."""

from __future__ import annotations

from typing import Any, ClassVar

from orderflow_contracts.primitives import ContractModel


class Event(ContractModel):
    """A past-tense fact published on a topic.

    Subclasses declare `topic` and `key_field` (the field holding the aggregate id that becomes
    the Kafka key); `event_type` is the class name, and `schema_version` is 1 for all of v1.
    """

    event_type: ClassVar[str]
    topic: ClassVar[str]
    key_field: ClassVar[str]
    schema_version: ClassVar[int] = 1

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls.event_type = cls.__name__
        # Any topic name is allowed here so test services may define their own events; the
        # registry's tests hold every contract event to the topics of `topics.ALL_TOPICS`.
        topic = getattr(cls, "topic", None)
        if not isinstance(topic, str) or not topic:
            raise TypeError(f"{cls.__name__} must declare its topic")
        key_field = getattr(cls, "key_field", None)
        if key_field not in cls.model_fields:
            raise TypeError(f"{cls.__name__}.key_field {key_field!r} is not one of its fields")

    @property
    def aggregate_id(self) -> str:
        """The id of the aggregate this event belongs to: the message's Kafka key."""
        return str(getattr(self, self.key_field))
