"""notify's own database."""

from sqlalchemy.orm import DeclarativeBase

from shared.db import service_metadata
from shared.tables import ServiceTables


class Base(DeclarativeBase):
    metadata = service_metadata()


service_tables = ServiceTables.define(Base.metadata)
