"""Imports every record module so Base.metadata is complete (Alembic, create_all, mapper configuration)."""

from itsm_ai.approval import models as approval_models  # noqa: F401
from itsm_ai.asset import models as asset_models  # noqa: F401
from itsm_ai.attachment import models as attachment_models  # noqa: F401
from itsm_ai.audit import models as audit_models  # noqa: F401
from itsm_ai.auth import models as auth_models  # noqa: F401
from itsm_ai.automation import models as automation_models  # noqa: F401
from itsm_ai.catalog import models as catalog_models  # noqa: F401
from itsm_ai.chat import models as chat_models  # noqa: F401
from itsm_ai.classify import models as classify_models  # noqa: F401
from itsm_ai.comment import models as comment_models  # noqa: F401
from itsm_ai.database import Base
from itsm_ai.group import models as group_models  # noqa: F401
from itsm_ai.knowledge import models as knowledge_models  # noqa: F401
from itsm_ai.mail import models as mail_models  # noqa: F401
from itsm_ai.notification import models as notification_models  # noqa: F401
from itsm_ai.records import models as record_models  # noqa: F401
from itsm_ai.sla import models as sla_models  # noqa: F401
from itsm_ai.ticket import models as ticket_models  # noqa: F401
from itsm_ai.webhooks import models as webhook_models  # noqa: F401
from itsm_ai.workflow import models as workflow_models  # noqa: F401

metadata = Base.metadata
record_models.use_sqlite_autoincrement(metadata)
