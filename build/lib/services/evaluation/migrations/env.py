from services.evaluation.tables import Base
from shared.migrations import configure_environment

configure_environment(Base.metadata)
