"""Router factory: the same create/read/update/delete/list/audit endpoints for every record type.

The caller hands in the dependency that yields the acting user (`auth.dependencies.CurrentUser`): the store
knows who acts, not how they logged in. Feature routers add their own endpoints to the router it returns.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Query, Response, status
from sqlalchemy.exc import IntegrityError

from itsm_ai.audit import service as audit_service
from itsm_ai.audit.models import AuditEventRead
from itsm_ai.base.roles import Role
from itsm_ai.database import DbSession
from itsm_ai.errors import ConflictError
from itsm_ai.records import events, idempotency, listing, service
from itsm_ai.records.listing import Page
from itsm_ai.records.spec import Action, RecordSpec

TOTAL_HEADER = "X-Total-Count"
NEXT_CURSOR_HEADER = "X-Next-Cursor"


def shown_to(user, item: dict[str, Any]) -> dict[str, Any]:
    """A record as this user may see it: requesters never see ML suggestions (their evidence shows other
    people's tickets)."""
    if user.role == Role.requester and item.get("suggestions") is not None:
        return {**item, "suggestions": None}
    return item


def make_router(spec: RecordSpec, current_user: Any, *, list_as_array: bool = False) -> APIRouter:
    """Build the standard endpoints for one record type; `current_user` is the Annotated dependency of the
    acting user. `list_as_array`: the list answers a JSON array (total and next cursor in headers)."""
    CurrentUser = current_user
    router = APIRouter(prefix=f"/{spec.path}", tags=[spec.path.split("/")[0]])
    Read = spec.read_schema
    Created = spec.created_schema or Read
    Create = spec.create_schema
    Update = spec.update_schema
    ListQuery = listing.query_model(spec)

    def scope_for(user) -> dict[str, Any]:
        if user.role == Role.requester and spec.access.owner_attr:
            return {spec.access.owner_attr: user.id}
        return {}

    def may(action: str) -> Any:
        # A dependency, so a role without the right is refused (403) before the body is even validated.
        def check(user: CurrentUser):
            spec.access.check(user, action, noun=spec.noun)
            return user

        return Annotated[Any, Depends(check)]

    Creator, Reader, Updater, Deleter = (
        may(a) for a in (Action.create, Action.read, Action.update, Action.delete)
    )

    def load(db_session, user, ref: str, action: str):
        return service.get_for(db_session=db_session, spec=spec, ref=ref, user=user, action=action)

    @router.post(
        "", status_code=status.HTTP_201_CREATED, response_model=Created, summary=f"Create a {spec.noun}"
    )
    def create(
        body: Annotated[Create, Body()],
        db_session: DbSession,
        user: Creator,
        response: Response,
        idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
    ):
        data = body.model_dump()
        if user.role == Role.requester and spec.requester_create_filter is not None:
            spec.requester_create_filter(user, data, Create)
        # The ML work of a create runs here, while the request holds no connection (the user dependency ended
        # its read), not inside the write transaction below.
        prepared = {} if spec.configuration else events.prepare_create(spec.record_type, data)
        endpoint = f"POST /{spec.path}"
        if idempotency_key is not None:
            body_hash = idempotency.request_hash(body.model_dump(mode="json"))
            earlier = idempotency.lookup(
                db_session=db_session,
                user_id=user.id,
                endpoint=endpoint,
                key=idempotency_key,
                body_hash=body_hash,
            )
            if earlier is not None:
                response.status_code = status.HTTP_200_OK
                response.headers["Idempotent-Replayed"] = "true"
                earlier_obj = service.get(db_session=db_session, spec=spec, ref=earlier.record_id)
                return shown_to(user, service.serialize(spec, earlier_obj, Created))
        obj = service.create(db_session=db_session, spec=spec, data=data, actor=user, prepared=prepared)
        if idempotency_key is not None:
            try:
                with db_session.begin_nested():
                    idempotency.remember(
                        db_session=db_session,
                        user_id=user.id,
                        endpoint=endpoint,
                        key=idempotency_key,
                        body_hash=body_hash,
                        record_type=spec.record_type,
                        record_id=obj.id,
                    )
            except IntegrityError as exc:
                # A concurrent request with the same key won the race; ours must not create a second record.
                raise ConflictError(
                    "Idempotency-Key: a request with this key is being processed; retry",
                    field="Idempotency-Key",
                ) from exc
        response.headers["Location"] = f"/api/v1/{spec.path}/{obj.id}"
        return shown_to(user, service.serialize(spec, obj, Created))

    def list_page(params, db_session, user) -> Page:
        scope = scope_for(user)
        if user.role == Role.requester and spec.access.requester_scope:
            scope = dict(spec.access.requester_scope)
        page = listing.list_records(db_session=db_session, spec=spec, params=params, scope=scope)
        if user.role == Role.requester:
            page.items = [shown_to(user, item) for item in page.items]
        return page

    if list_as_array:

        @router.get("", response_model=list[Read], summary=f"List {spec.path}")
        def list_array(
            params: Annotated[ListQuery, Query()],
            db_session: DbSession,
            user: Reader,
            response: Response,
        ):
            page = list_page(params, db_session, user)
            response.headers[TOTAL_HEADER] = str(page.total)
            if page.next_cursor:
                response.headers[NEXT_CURSOR_HEADER] = page.next_cursor
            return page.items

    else:

        @router.get("", response_model=Page, summary=f"List {spec.path}")
        def list_(params: Annotated[ListQuery, Query()], db_session: DbSession, user: Reader):
            return list_page(params, db_session, user)

    @router.get("/{ref}", response_model=Read, summary=f"Read a {spec.noun} by id or number")
    def read(ref: str, db_session: DbSession, user: Reader):
        return shown_to(user, service.serialize(spec, load(db_session, user, ref, Action.read)))

    @router.patch("/{ref}", response_model=Read, summary=f"Update a {spec.noun} (send its version)")
    def update(ref: str, body: Annotated[Update, Body()], db_session: DbSession, user: Updater):
        obj = load(db_session, user, ref, Action.update)
        obj = service.update(
            db_session=db_session, spec=spec, obj=obj, data=body.model_dump(exclude_unset=True), actor=user
        )
        return shown_to(user, service.serialize(spec, obj))

    @router.delete("/{ref}", status_code=status.HTTP_204_NO_CONTENT, summary=f"Delete a {spec.noun}")
    def delete(ref: str, db_session: DbSession, user: Deleter):
        obj = load(db_session, user, ref, Action.delete)
        service.delete(db_session=db_session, spec=spec, obj=obj, actor=user)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.get("/{ref}/audit", response_model=list[AuditEventRead], summary=f"Audit trail of a {spec.noun}")
    def audit(ref: str, db_session: DbSession, user: Reader):
        obj = load(db_session, user, ref, Action.read)
        return audit_service.list_for(
            db_session=db_session,
            record_type=spec.record_type,
            record_id=obj.id,
            include_internal=user.role != Role.requester,
        )

    return router
