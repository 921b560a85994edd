"""Import every model module so that the metadata (and Alembic) sees all tables."""

from gongshu.aggregation import interface_models as aggregation_models
from gongshu.aggregation import pull_models as aggregation_pull_models
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
from gongshu.quality import recheck as quality_recheck_models
from gongshu.quality import rules as quality_models
from gongshu.quality import rulings as quality_rulings_models
from gongshu.sharing import delivery_models as sharing_delivery_models
from gongshu.sharing import emergency_models as sharing_emergency_models
from gongshu.store import models as store_models

__all__ = [
    "Base",
    "access_models",
    "aggregation_models",
    "aggregation_pull_models",
    "audit_models",
    "catalog_models",
    "catalog_projects_models",
    "clock_models",
    "crypto_models",
    "identity_models",
    "jobs_models",
    "policy_models",
    "quality_models",
    "quality_recheck_models",
    "quality_rulings_models",
    "sharing_delivery_models",
    "sharing_emergency_models",
    "store_models",
    "workflow_models",
]
