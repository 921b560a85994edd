"""Import every model module so that the metadata (and Alembic) sees all tables."""

from gongshu.catalog import models as catalog_models
from gongshu.catalog import projects_models as catalog_projects_models
from gongshu.kernel.access import models as access_models
from gongshu.kernel.audit import models as audit_models
from gongshu.kernel.clock import models as clock_models
from gongshu.kernel.crypto import models as crypto_models
from gongshu.kernel.db import Base
from gongshu.kernel.identity import models as identity_models
from gongshu.kernel.jobs import models as jobs_models
from gongshu.kernel.policy import models as policy_models
from gongshu.kernel.workflow import models as workflow_models
from gongshu.quality import rules as quality_models
from gongshu.store import models as store_models

__all__ = [
    "Base",
    "access_models",
    "audit_models",
    "catalog_models",
    "catalog_projects_models",
    "clock_models",
    "crypto_models",
    "identity_models",
    "jobs_models",
    "policy_models",
    "quality_models",
    "store_models",
    "workflow_models",
]
