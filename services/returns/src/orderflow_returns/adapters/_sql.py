"""What every SQL repository of the service shares: the connection of its unit of work and
the validated schema its statements are qualified with."""

from __future__ import annotations

from orderflow_chassis.database import Connection
from orderflow_chassis.settings import validate_identifier


class SqlRepository:
    def __init__(self, connection: Connection, schema: str) -> None:
        self.connection = connection
        self.s = validate_identifier(schema)
