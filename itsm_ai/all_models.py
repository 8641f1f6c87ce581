"""Assembles the store: imports every record module (so Base.metadata and the mappers are complete: Alembic,
create_all) and every record spec, lets features attach their hooks to specs and services they do not own,
and then marks the spec registry complete. The API, the CLI, the worker and the tests import it before they
write."""

from itsm_ai.approval import models as approval_models  # noqa: F401
from itsm_ai.asset import models as asset_models  # noqa: F401
from itsm_ai.asset import service as asset_specs  # noqa: F401
from itsm_ai.attachment import models as attachment_models  # noqa: F401
from itsm_ai.audit import models as audit_models  # noqa: F401
from itsm_ai.auth import models as auth_models  # noqa: F401
from itsm_ai.automation import models as automation_models  # noqa: F401
from itsm_ai.automation import service as automation_specs  # noqa: F401
from itsm_ai.base import spec_registry
from itsm_ai.catalog import models as catalog_models  # noqa: F401
from itsm_ai.catalog import service as catalog_specs  # noqa: F401
from itsm_ai.chat import models as chat_models  # noqa: F401
from itsm_ai.classify import models as classify_models  # noqa: F401
from itsm_ai.comment import models as comment_models  # noqa: F401
from itsm_ai.database import Base
from itsm_ai.group import models as group_models  # noqa: F401
from itsm_ai.group import service as group_specs  # noqa: F401
from itsm_ai.knowledge.article import models as knowledge_models  # noqa: F401
from itsm_ai.knowledge.article import service as knowledge_specs  # noqa: F401
from itsm_ai.mail import models as mail_models  # noqa: F401
from itsm_ai.mail import service as mail_service
from itsm_ai.notification import models as notification_models  # noqa: F401
from itsm_ai.predictions import models as prediction_models  # noqa: F401
from itsm_ai.records import models as record_models
from itsm_ai.reports import models as report_models  # noqa: F401
from itsm_ai.sla import calendars as sla_calendar_specs  # noqa: F401
from itsm_ai.sla import models as sla_models  # noqa: F401
from itsm_ai.sla import policies as sla_policy_specs  # noqa: F401
from itsm_ai.ticket import models as ticket_models  # noqa: F401
from itsm_ai.ticket import service as ticket_specs  # noqa: F401
from itsm_ai.webhooks import models as webhook_models  # noqa: F401
from itsm_ai.webhooks import service as webhook_specs  # noqa: F401
from itsm_ai.workflow import models as workflow_models  # noqa: F401
from itsm_ai.workflow import ticket_hooks

ticket_hooks.install()
mail_service.install()
spec_registry.mark_complete()

metadata = Base.metadata
record_models.use_sqlite_autoincrement(metadata)
