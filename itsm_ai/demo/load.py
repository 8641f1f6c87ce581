"""Load the bundled demo data (idempotent): accounts, groups, catalog, assets, articles, resolved tickets
from real Stack Exchange questions and answers, and open tickets (written for this project) showing each AI
feature.

Everything is looked up by its natural key first (username, group, item or asset name, article or ticket
correlation id, the demo's chat conversation), so a second `load_demo()` adds nothing. What the data is and
where it comes from: `data.py` and README.md beside this file; the ticket history is imported by `history`,
the showcase tickets are opened by `showcase`.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from itsm_ai.base.roles import Role
from itsm_ai.demo.data import (
    QA_ARTICLES,
    REQUESTERS,
    attribution,
    qa_items,
)
from itsm_ai.demo.history import history_loaded, import_history
from itsm_ai.demo.showcase import open_showcase, showcase_pending

# Demo passwords, documented in README.md and the project README; admin's comes from the settings.
USERS: tuple[tuple[str, Role, str | None, str], ...] = (
    ("admin", Role.admin, None, "Demo Administrator"),
    ("agent", Role.agent, "agent-demo-pw", "Sam Agent"),
    ("alice", Role.requester, "alice-demo-pw", "Alice Requester"),
    ("dana", Role.data_scientist, "dana-demo-pw", "Dana Scientist"),
)
GROUPS = (
    ("Service Desk", "First line: takes every call, solves what it can, routes the rest."),
    ("Hardware Support", "Laptops, desktops, monitors, printers and peripherals."),
    ("Access Management", "Accounts, passwords, permissions and administrative rights."),
    ("HR Systems", "The HR portal, payroll and onboarding tools."),
    ("Storage & Backup", "File shares, mailbox quotas, backups and restores."),
    ("Procurement", "Purchase requests for hardware, software and services."),
    ("Desktop Support", "Desktop and laptop software: installs, updates, upgrades, start-up and shutdown."),
    ("Web and Collaboration", "E-mail, spam filtering, calendars and the web applications staff use."),
)
CATALOG = (
    (
        "Standard laptop",
        "Hardware",
        "14-inch business laptop with docking station.",
        1150,
        True,
        "Procurement",
    ),
    (
        "Additional monitor",
        "Hardware",
        "27-inch monitor for a desk or home office.",
        240,
        False,
        "Hardware Support",
    ),
    ("VPN access", "Access", "Remote access to the internal network.", None, True, "Access Management"),
    ("Software licence", "Software", "A licence for a catalogued application.", None, True, "Procurement"),
    (
        "Shared mailbox",
        "Email",
        "A mailbox a team shares, with its members.",
        None,
        False,
        "Storage & Backup",
    ),
)
# The questions an item asks when it is ordered (the portal shows them; the API validates the answers).
QUESTIONS = {
    "Software licence": [
        {
            "name": "application",
            "label": "Which application",
            "type": "choice",
            "required": True,
            "choices": ["Adobe Acrobat Pro", "Microsoft Visio", "JetBrains IntelliJ IDEA", "Zoom Pro"],
        },
    ],
    "Standard laptop": [
        {"name": "keyboard", "label": "Keyboard layout", "type": "choice", "choices": ["US", "UK", "German"]},
    ],
    "Shared mailbox": [
        {"name": "address", "label": "Mailbox address", "required": True},
        {"name": "members", "label": "Members (usernames, comma separated)"},
    ],
    "VPN access": [
        {"name": "personal_device", "label": "I will also connect from a personal device", "type": "boolean"},
    ],
}
# Items approved by the caller's manager, each with the group that decides for a caller without one.
MANAGER_APPROVAL = {"Standard laptop": "Procurement"}
# The demo requester's manager: a laptop Alice orders waits for Sam's approval in the console.
MANAGERS = {"alice": "agent"}
ASSETS = (
    ("Mail service", "service", "The company e-mail and calendar service.", "Storage & Backup", None),
    ("VPN gateway", "network", "Remote access gateway for staff.", "Access Management", "Data centre 1"),
    ("File server FS01", "server", "Department file shares.", "Storage & Backup", "Data centre 1"),
    ("HR portal", "application", "Leave requests, payslips and personal data.", "HR Systems", None),
    (
        "Printer 3rd floor",
        "hardware",
        "Shared colour printer next to the kitchen.",
        "Hardware Support",
        "Floor 3",
    ),
)
ARTICLES = (
    (
        "demo-kb-password-reset",
        "Reset your password or unlock your account",
        "Access",
        ["password", "locked", "account", "reset"],
        "If your password has expired or your account is locked after too many attempts:\n\n"
        "1. Open the self-service password page from any company computer or your phone.\n"
        "2. Confirm your identity with the code sent to your registered mobile number.\n"
        "3. Choose a new password: at least 12 characters, not one of your last five.\n"
        "4. Wait two minutes, then sign in again everywhere (laptop, phone mail app, VPN) with the new "
        "password: devices that keep trying the old one lock the account again.\n\n"
        "Still locked after 15 minutes? Open an incident for Access Management with your username.",
    ),
    (
        "demo-kb-vpn",
        "VPN connects but internal sites do not open",
        "Access",
        ["vpn", "remote", "network"],
        "When the VPN client shows 'connected' but internal pages time out:\n\n"
        "1. Disconnect, quit the VPN client completely and start it again.\n"
        "2. Check that you chose the company profile, not a home or hotel captive portal.\n"
        "3. On hotel or guest Wi-Fi, open any public web page first to accept the portal's terms.\n"
        "4. If only some sites fail, clear the browser cache or try a private window.\n\n"
        "If it still fails, open an incident and add the VPN client log (Help > Export logs).",
    ),
    (
        "demo-kb-mailbox-full",
        "Mailbox full: free space or request more",
        "Storage",
        ["mailbox", "quota", "email", "storage"],
        "Outlook warns when the mailbox nears its quota and stops sending at the limit.\n\n"
        "- Empty 'Deleted Items' and 'Junk'.\n"
        "- Sort by size and move large attachments to your personal file share.\n"
        "- Turn on the online archive (File > Tools > Mailbox Cleanup).\n\n"
        "A team that needs more space should request a shared mailbox from the catalog.",
    ),
    (
        "demo-kb-new-hardware",
        "Order a laptop, monitor or other hardware",
        "Purchase",
        ["hardware", "laptop", "monitor", "purchase"],
        "Standard hardware is ordered from the service catalog ('Standard laptop', 'Additional monitor'). "
        "Items that need approval go to your manager first; delivery is usually within five working days. "
        "Anything outside the catalog is a purchase request for Procurement: give the model, the quantity, "
        "the cost centre and why the standard item does not fit.",
    ),
    (
        "demo-kb-admin-rights",
        "Temporary administrator rights on your computer",
        "Administrative rights",
        ["admin", "rights", "install", "software"],
        "Most software is installed from the Software Center without administrator rights. When you need "
        "them (a driver, a developer tool), open a request for Access Management with the computer name, the "
        "reason and how long you need them. Rights are granted for up to 8 hours and removed automatically; "
        "they are logged.",
    ),
)


def _users(session: Session, counts: Counter[str]) -> dict[str, Any]:
    from itsm_ai.auth import service as user_service
    from itsm_ai.auth.models import UserCreate
    from itsm_ai.config import get_settings

    users = {}
    for username, role, password, full_name in USERS:
        user = user_service.get_by_username(db_session=session, username=username)
        if user is None:
            values = {
                "username": username,
                "role": role,
                "password": password or get_settings().demo_admin_password,
                "full_name": full_name,
                "email": f"{username}@demo.example.com",
            }
            # The admin password is a setting and may be shorter than the API allows (default "admin").
            user_in = (
                UserCreate(**values) if password else UserCreate.model_construct(**values, organisation=None)
            )
            user = user_service.create(db_session=session, user_in=user_in, actor=None)
            counts["users"] += 1
        users[username] = user
    for username, manager in MANAGERS.items():
        if users[username].manager_id is None:
            users[username].manager_ref = users[manager]
    for username, full_name in REQUESTERS:
        if user_service.get_by_username(db_session=session, username=username) is None:
            user_in = UserCreate(username=username, full_name=full_name, email=f"{username}@demo.example.com")
            user_service.create(db_session=session, user_in=user_in, actor=None)
            counts["users"] += 1
    return users


def _groups(session: Session, counts: Counter[str], agent) -> None:
    from itsm_ai.group import service as group_service
    from itsm_ai.group.models import GroupCreate
    from itsm_ai.records import service as records

    for name, description in GROUPS:
        if group_service.get_by_name(db_session=session, name=name) is None:
            group = GroupCreate(name=name, description=description, members=[agent.username])
            records.create(db_session=session, spec=group_service.GROUP, data=group.model_dump(), actor=None)
            counts["groups"] += 1


def _catalog(session: Session, counts: Counter[str], admin) -> None:
    from itsm_ai.catalog.models import CatalogItem, CatalogItemCreate
    from itsm_ai.catalog.service import CATALOG_ITEM
    from itsm_ai.records import service as records

    for name, category, text, price, approval, group in CATALOG:
        if session.scalar(select(CatalogItem.id).where(CatalogItem.name == name)) is None:
            item = CatalogItemCreate(
                name=name,
                short_description=text,
                category=category,
                price=price,
                requires_approval=approval,
                fulfilment_group=group,
                approval_by_manager=name in MANAGER_APPROVAL,
                approval_group=MANAGER_APPROVAL.get(name),
                variables=QUESTIONS.get(name),
            )
            records.create(db_session=session, spec=CATALOG_ITEM, data=item.model_dump(), actor=admin)
            counts["catalog_items"] += 1


def _assets(session: Session, counts: Counter[str], admin) -> None:
    from itsm_ai.asset.models import Asset, AssetCreate
    from itsm_ai.asset.service import ASSET
    from itsm_ai.records import service as records

    for name, ci_class, text, group, location in ASSETS:
        if session.scalar(select(Asset.id).where(Asset.name == name)) is None:
            asset = AssetCreate(
                name=name, ci_class=ci_class, description=text, support_group=group, location=location
            )
            records.create(db_session=session, spec=ASSET, data=asset.model_dump(), actor=admin)
            counts["assets"] += 1


def _article_sources() -> list[tuple[str, str, str, list[str], str]]:
    """(key, title, category, keywords, text): the written articles, then the shipped answers (attributed)."""
    items = {item["id"]: item for item in qa_items()}
    shipped = []
    for qa_id, keywords in QA_ARTICLES:
        item = items[qa_id]
        text = f"{item['answer']}\n\n{attribution(item)}"
        shipped.append((f"demo-kb-se-{qa_id}", item["question"], item["category"], keywords, text))
    return [*ARTICLES, *shipped]


def _articles(session: Session, counts: Counter[str], agent) -> None:
    from itsm_ai.knowledge.article.models import ArticleCreate, KnowledgeArticle
    from itsm_ai.knowledge.article.service import ARTICLE
    from itsm_ai.records import service as records

    for key, title, category, keywords, text in _article_sources():
        if (
            session.scalar(select(KnowledgeArticle.id).where(KnowledgeArticle.correlation_id == key))
            is not None
        ):
            continue
        article_in = ArticleCreate(
            short_description=title, text=text, category=category, keywords=keywords, correlation_id=key
        )
        article = records.create(db_session=session, spec=ARTICLE, data=article_in.model_dump(), actor=agent)
        # Through the lifecycle like any article: draft -> review -> published.
        for state in ("review", "published"):
            records.update(
                db_session=session,
                spec=ARTICLE,
                obj=article,
                data={"version": article.version, "state": state},
                actor=agent,
            )
            session.flush()
        counts["knowledge_articles"] += 1


COUNTED = (
    "users",
    "groups",
    "catalog_items",
    "assets",
    "knowledge_articles",
    "incidents",
    "knowledge_drafts",
)


def load_demo(progress: bool = False, *, showcase: bool = True) -> dict[str, int]:
    """Load the demo accounts, groups, catalog, assets, articles and tickets; what exists already is kept.

    With ``showcase`` the demo triage models are trained first (`triage_models.ensure_demo_models`), so the
    open showcase tickets get their suggestions, similar fixes, duplicate and major-incident flags on create.
    """
    from itsm_ai.database import get_session
    from itsm_ai.demo.triage_models import ensure_demo_models
    from itsm_ai.migrate import upgrade

    upgrade()
    counts: Counter[str] = Counter()
    with get_session() as session:
        users = _users(session, counts)
        _groups(session, counts, users["agent"])
        _catalog(session, counts, users["admin"])
        _assets(session, counts, users["admin"])
        _articles(session, counts, users["agent"])
        has_history = history_loaded(session)
    # Sessions do not expire on commit, so the admin's id and username stay readable for the audit rows.
    if not has_history:
        import_history(counts, users["admin"])
    console = None
    if progress:
        from rich.console import Console

        console = Console(stderr=True, soft_wrap=True)
    if showcase:
        ensure_demo_models(progress=console.print if console else None)
        if console and showcase_pending():
            console.print("demo data: opening the showcase tickets (embeds the knowledge index once) ...")
        open_showcase(counts)
    result = {key: counts[key] for key in COUNTED}
    if console:
        added = ", ".join(f"{n} {key.replace('_', ' ')}" for key, n in result.items())
        console.print(f"demo data: added {added}" if any(result.values()) else "demo data: already loaded")
    return result
