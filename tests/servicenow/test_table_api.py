"""The Table API over raw HTTP, as integrations call it (the Ansible servicenow.itsm collection's calls
replayed): display values, reference links, fields, paging headers, plain parameters, writes, the other
tables, the error shape, authentication (basic, bearer, /oauth_token.do) and access."""

from __future__ import annotations

import pytest

from tests.servicenow.conftest import assert_sn_error, basic

T = "/api/now/table"


def test_create_shapes_and_reference_fields(client, seeded):
    vpn = seeded["vpn down"]
    assert len(vpn["sys_id"]) == 32 and vpn["number"].startswith("INC")
    assert vpn["state"] == "1" and vpn["priority"] == "2" and vpn["impact"] == "1"
    assert set(vpn["assignment_group"]) == {"link", "value"}
    assert vpn["assignment_group"]["link"].endswith(
        f"/api/now/table/sys_user_group/{vpn['assignment_group']['value']}"
    )
    assert "no_such_field" not in vpn
    group = client.get(vpn["assignment_group"]["link"].split("testserver")[1], headers=basic("agent"))
    assert group.json()["result"]["name"] == "Network"


def test_display_value_modes_and_fields(client, seeded):
    sys_id = seeded["vpn down"]["sys_id"]
    url = f"{T}/incident/{sys_id}"
    shown = client.get(url, params={"sysparm_display_value": "true"}, headers=basic("agent")).json()["result"]
    assert shown["state"] == "New" and shown["priority"] == "2 - High" and shown["impact"] == "1 - High"
    assert shown["assignment_group"] == {
        "display_value": "Network",
        "link": shown["assignment_group"]["link"],
    }
    both = client.get(
        url,
        params={
            "sysparm_display_value": "all",
            "sysparm_exclude_reference_link": "true",
            "sysparm_fields": "number,state,caller_id",
        },
        headers=basic("agent"),
    ).json()["result"]
    assert set(both) == {"number", "state", "caller_id"}
    assert both["state"] == {"display_value": "New", "value": "1"}
    assert both["caller_id"]["display_value"] == "requester" and len(both["caller_id"]["value"]) == 32
    plain = client.get(
        url,
        params={"sysparm_exclude_reference_link": "true", "sysparm_fields": "assignment_group"},
        headers=basic("agent"),
    ).json()["result"]
    assert len(plain["assignment_group"]) == 32
    bad = client.get(url, params={"sysparm_display_value": "maybe"}, headers=basic("agent"))
    assert_sn_error(bad, 400, "sysparm_display_value")


def test_offset_paging_on_total_count_as_ansible_does(client, seeded):
    seen, offset = [], 0
    while True:
        r = client.get(
            f"{T}/incident",
            params={"sysparm_query": "ORDERBYnumber", "sysparm_limit": 2, "sysparm_offset": offset},
            headers=basic("agent"),
        )
        assert r.status_code == 200
        seen += [row["number"] for row in r.json()["result"]]
        offset += 2
        if offset >= int(r.headers["X-Total-Count"]):
            break
    assert seen == sorted(s["number"] for s in seeded.values())
    assert 'rel="next"' not in r.headers["Link"] and 'rel="prev"' in r.headers["Link"]
    first = client.get(f"{T}/incident", params={"sysparm_limit": 1}, headers=basic("agent"))
    assert 'rel="next"' in first.headers["Link"]
    quiet = client.get(
        f"{T}/incident",
        params={"sysparm_limit": 1, "sysparm_suppress_pagination_header": "true"},
        headers=basic("agent"),
    )
    assert "Link" not in quiet.headers and quiet.headers["X-Total-Count"] == "3"


def test_plain_parameters_dot_walk_and_dates(client, seeded):
    r = client.get(f"{T}/incident", params={"impact": "3"}, headers=basic("agent"))
    assert [x["short_description"] for x in r.json()["result"]] == ["printer jam"]
    r = client.get(
        f"{T}/incident",
        params={"sysparm_query": "assignment_group.name=Network^caller_id.user_name=requester2"},
        headers=basic("agent"),
    )
    assert [x["short_description"] for x in r.json()["result"]] == ["mail"]
    r = client.get(
        f"{T}/incident",
        params={"sysparm_query": "opened_at>=javascript:gs.daysAgoStart(1)"},
        headers=basic("agent"),
    )
    assert r.headers["X-Total-Count"] == "3"
    r = client.get(
        f"{T}/incident",
        params={"sysparm_query": "opened_at<javascript:gs.beginningOfYesterday()"},
        headers=basic("agent"),
    )
    assert r.headers["X-Total-Count"] == "0"
    r = client.get(f"{T}/incident", params={"sysparm_query": "priority=5"}, headers=basic("agent"))
    assert r.headers["X-Total-Count"] == "0"  # ServiceNow's 5 - Planning: none of ours


def test_put_patch_and_journal(client, seeded):
    sys_id = seeded["vpn down"]["sys_id"]
    r = client.put(
        f"{T}/incident/{sys_id}",
        json={"state": "2", "work_notes": "looking", "bogus": 1},
        headers=basic("agent"),
    )
    assert r.status_code == 200 and r.json()["result"]["state"] == "2"
    r = client.patch(
        f"/api/now/v1/table/incident/{sys_id}",
        json={"state": "6", "close_code": "solved", "close_notes": "rebooted"},
        headers=basic("agent"),
    )
    result = r.json()["result"]
    assert result["state"] == "6" and result["resolved_at"] and result["active"] == "false"
    notes = client.get(
        "/api/now/table/sys_journal_field",
        params={"sysparm_query": f"element_id={sys_id}"},
        headers=basic("agent"),
    ).json()["result"]
    assert [(n["element"], n["value"]) for n in notes] == [("work_notes", "looking")]
    # requesters never see work notes
    mine = client.get(
        "/api/now/table/sys_journal_field",
        params={"sysparm_query": f"element_id={sys_id}"},
        headers=basic("requester"),
    )
    assert mine.json()["result"] == []


@pytest.mark.parametrize(
    ("method", "body", "status", "mentions"),
    [
        ("PATCH", {"state": "42"}, 400, "state"),
        ("PATCH", {"impact": "high"}, 400, "impact"),
        ("PATCH", {"impact": "7"}, 400, "impact"),
        ("PATCH", {"assigned_to": "nobody-by-that-name"}, 400, "assigned_to"),
        ("PATCH", {"assignment_group": "0" * 32}, 400, "assignment_group"),
        ("PATCH", {"opened_at": "yesterday"}, 400, "opened_at"),
        ("PATCH", ["not", "an", "object"], 400, "body"),
    ],
)
def test_bad_writes_name_the_field_and_keep_the_record(client, seeded, method, body, status, mentions):
    sys_id = seeded["vpn down"]["sys_id"]
    before = client.get(f"{T}/incident/{sys_id}", headers=basic("agent")).json()["result"]
    r = client.request(method, f"{T}/incident/{sys_id}", json=body, headers=basic("agent"))
    assert_sn_error(r, status, mentions)
    after = client.get(f"{T}/incident/{sys_id}", headers=basic("agent")).json()["result"]
    assert after == before


def test_bad_requests(client, seeded):
    assert_sn_error(client.get(f"{T}/no_such_table", headers=basic("agent")), 400, "Invalid table")
    for query in (
        "stateLIKE1",
        "opened_atSTARTSWITH2026",
        "assigned_to.user_name.x=1",
        "comments=x",
        "activeINtrue",
    ):
        r = client.get(f"{T}/incident", params={"sysparm_query": query}, headers=basic("agent"))
        assert_sn_error(r, 400)
    r = client.get(f"{T}/incident", params={"sysparm_query": "ORDERBYcomments"}, headers=basic("agent"))
    assert_sn_error(r, 400, "comments")
    assert_sn_error(
        client.get(f"{T}/incident", params={"sysparm_query": "colour=red"}, headers=basic("agent")),
        400,
        "colour",
    )
    assert_sn_error(
        client.get(f"{T}/incident", params={"sysparm_query": "impact>high"}, headers=basic("agent")),
        400,
        "impact",
    )
    assert_sn_error(
        client.get(f"{T}/incident", params={"sysparm_limit": "x"}, headers=basic("agent")),
        400,
        "sysparm_limit",
    )
    assert_sn_error(
        client.get(
            f"{T}/incident",
            params={"sysparm_query": "opened_at>javascript:gs.eval(1)"},
            headers=basic("agent"),
        ),
        400,
        "gs.eval",
    )
    assert_sn_error(client.get(f"{T}/incident/{'f' * 32}", headers=basic("agent")), 404)
    assert_sn_error(
        client.post(
            f"{T}/incident",
            content=b"{not json",
            headers={**basic("agent"), "Content-Type": "application/json"},
        ),
        400,
        "JSON",
    )
    assert_sn_error(
        client.post(f"{T}/incident", json={"impact": 1}, headers=basic("agent")), 400, "short_description"
    )


def test_authentication(client, seeded):
    r = client.get(f"{T}/incident", headers=basic("agent", "wrong"))
    assert_sn_error(r, 401)
    assert r.headers["WWW-Authenticate"].startswith("Basic")
    assert_sn_error(client.get(f"{T}/incident"), 401)
    assert_sn_error(client.get(f"{T}/incident", headers={"Authorization": "Basic !!!"}), 401)
    token = client.post(
        "/oauth_token.do",
        data={
            "grant_type": "password",
            "username": "agent",
            "password": "correct-horse-battery",
            "client_id": "x",
        },
    )
    assert token.status_code == 200 and token.json()["token_type"] == "Bearer"
    r = client.get(f"{T}/incident", headers={"Authorization": f"Bearer {token.json()['access_token']}"})
    assert r.status_code == 200 and r.headers["X-Total-Count"] == "3"
    denied = client.post(
        "/oauth_token.do", data={"grant_type": "password", "username": "agent", "password": "no"}
    )
    assert denied.status_code == 401
    assert client.post("/oauth_token.do", data={"grant_type": "client_credentials"}).status_code == 400


def test_access_follows_the_native_api(client, seeded):
    own = client.get(f"{T}/incident", headers=basic("requester")).json()["result"]
    assert sorted(x["short_description"] for x in own) == ["printer jam", "vpn down"]
    other = seeded["mail"]["sys_id"]
    assert_sn_error(client.get(f"{T}/incident/{other}", headers=basic("requester")), 404)
    assert_sn_error(
        client.patch(f"{T}/incident/{other}", json={"short_description": "x"}, headers=basic("requester")),
        403,
    )
    assert_sn_error(client.delete(f"{T}/incident/{other}", headers=basic("agent")), 403)
    r = client.post(
        f"{T}/incident",
        json={"short_description": "mine", "caller_id": "requester2"},
        headers=basic("requester"),
    )
    assert_sn_error(r, 403, "caller")
    r = client.post(f"{T}/incident", json={"short_description": "mine"}, headers=basic("requester"))
    assert r.status_code == 201 and r.json()["result"]["caller_id"]["value"]
    # data scientists read every ticket and write none
    assert client.get(f"{T}/incident", headers=basic("data_scientist")).headers["X-Total-Count"] == "4"
    assert_sn_error(
        client.post(f"{T}/incident", json={"short_description": "x"}, headers=basic("data_scientist")), 403
    )
    assert_sn_error(client.get(f"{T}/problem", headers=basic("requester")), 403)
    # users: staff list them, everyone else sees only themselves
    assert client.get(f"{T}/sys_user", headers=basic("agent")).headers["X-Total-Count"] == "6"
    me = client.get(f"{T}/sys_user", headers=basic("requester")).json()["result"]
    assert [u["user_name"] for u in me] == ["requester"]


def test_other_tables(client, seeded):
    admin = basic("admin")
    problem = client.post(f"{T}/problem", json={"short_description": "root cause"}, headers=admin).json()[
        "result"
    ]
    assert problem["state"] == "101" and problem["number"].startswith("PRB")
    r = client.patch(
        f"{T}/incident/{seeded['vpn down']['sys_id']}", json={"problem_id": problem["sys_id"]}, headers=admin
    )
    assert r.json()["result"]["problem_id"]["value"] == problem["sys_id"]
    change = client.post(
        f"{T}/change_request", json={"short_description": "patch", "type": "standard"}, headers=admin
    )
    assert change.status_code == 201 and change.json()["result"]["state"] == "-5"
    assert change.json()["result"]["type"] == "standard"
    item = client.post(
        f"{T}/sc_req_item", json={"short_description": "laptop", "quantity": "2"}, headers=admin
    )
    assert item.status_code == 201 and item.json()["result"]["state"] == "1"
    same = client.get(f"{T}/sc_request/{item.json()['result']['sys_id']}", headers=admin)
    assert same.json()["result"]["quantity"] == "2"
    ci = client.post(f"{T}/cmdb_ci", json={"name": "mail-01", "owned_by": "agent"}, headers=admin)
    assert ci.status_code == 201 and ci.json()["result"]["name"] == "mail-01"
    kb = client.post(
        f"{T}/kb_knowledge", json={"short_description": "Reset VPN", "text": "Do this."}, headers=admin
    )
    assert kb.status_code == 201 and kb.json()["result"]["workflow_state"] == "draft"
    assert client.get(f"{T}/kb_knowledge", headers=basic("requester")).headers["X-Total-Count"] == "0"
    group = client.get(f"{T}/sys_user_group", params={"name": "Network"}, headers=admin).json()["result"]
    assert [g["name"] for g in group] == ["Network"]
    g = client.patch(
        f"{T}/sys_user_group/{group[0]['sys_id']}", json={"description": "WAN and VPN"}, headers=admin
    )
    assert g.json()["result"]["description"] == "WAN and VPN"
    assert_sn_error(client.delete(f"{T}/sys_user/{group[0]['sys_id']}", headers=admin), 403, "delete")
    comment = client.post(
        f"{T}/sys_journal_field",
        json={"element_id": seeded["vpn down"]["sys_id"], "element": "comments", "value": "any news?"},
        headers=basic("requester"),
    )
    assert comment.status_code == 201 and comment.json()["result"]["value"] == "any news?"
    assert_sn_error(
        client.post(
            f"{T}/sys_journal_field",
            json={"element_id": seeded["mail"]["sys_id"], "value": "x"},
            headers=basic("requester"),
        ),
        404,
    )


def test_aggregate_api(client, seeded):
    r = client.get("/api/now/stats/incident", params={"sysparm_count": "true"}, headers=basic("agent"))
    assert r.json() == {"result": {"stats": {"count": "3"}}}
    r = client.get(
        "/api/now/stats/incident",
        params={
            "sysparm_count": "true",
            "sysparm_group_by": "impact",
            "sysparm_avg_fields": "urgency",
            "sysparm_max_fields": "number",
            "sysparm_order_by": "impact",
        },
        headers=basic("agent"),
    )
    groups = r.json()["result"]
    assert [g["groupby_fields"] for g in groups] == [
        [{"field": "impact", "value": v}] for v in ("1", "2", "3")
    ]
    assert groups[0]["stats"] == {
        "count": "1",
        "avg": {"urgency": "2"},
        "max": {"number": seeded["vpn down"]["number"]},
    }
    r = client.get(
        "/api/now/stats/incident",
        params={"sysparm_count": "true", "sysparm_group_by": "caller_id", "sysparm_having": "count^*^>^1"},
        headers=basic("agent"),
    )
    assert [g["stats"]["count"] for g in r.json()["result"]] == ["2"]
    own = client.get("/api/now/stats/incident", params={"sysparm_count": "true"}, headers=basic("requester"))
    assert own.json()["result"]["stats"]["count"] == "2"
    bad = client.get(
        "/api/now/stats/incident", params={"sysparm_avg_fields": "short_description"}, headers=basic("agent")
    )
    assert_sn_error(bad, 400, "short_description")
    bad = client.get("/api/now/stats/incident", params={"sysparm_having": "count>1"}, headers=basic("agent"))
    assert_sn_error(bad, 400, "sysparm_having")


def test_batch_bad_input(client, users):
    assert_sn_error(
        client.post("/api/now/v1/batch", json={"rest_requests": "x"}, headers=basic("agent")),
        400,
        "rest_requests",
    )
    r = client.post(
        "/api/now/v1/batch",
        json={
            "batch_request_id": "1",
            "rest_requests": [{"id": "a", "method": "GET", "url": "/api/v1/incidents"}],
        },
        headers=basic("agent"),
    )
    assert_sn_error(r, 400, "url")
    r = client.post(
        "/api/now/v1/batch",
        json={
            "batch_request_id": "7",
            "rest_requests": [
                {"id": "a", "method": "GET", "url": "/api/now/table/incident?sysparm_limit=1", "headers": []},
                {"id": "b", "method": "GET", "url": "/api/now/table/nope", "headers": []},
            ],
        },
        headers=basic("agent"),
    )
    body = r.json()
    assert body["batch_request_id"] == "7"
    assert [s["status_code"] for s in body["serviced_requests"]] == [200, 400]
    assert_sn_error(client.post("/api/now/v1/batch", json={"rest_requests": []}), 401)


def test_users_are_written_by_admins(client, users):
    r = client.post(
        f"{T}/sys_user",
        json={
            "user_name": "jdoe",
            "name": "Jane Doe",
            "email": "jane@example.org",
            "user_password": "long-enough-1",
        },
        headers=basic("admin"),
    )
    assert r.status_code == 201, r.text
    jane = r.json()["result"]
    assert jane["user_name"] == "jdoe" and jane["roles"] == "requester" and jane["user_password"] == ""
    assert client.get(f"{T}/incident", headers=basic("jdoe", "long-enough-1")).status_code == 200
    r = client.patch(
        f"{T}/sys_user/{jane['sys_id']}",
        json={"name": "Jane Q. Doe", "roles": "agent"},
        headers=basic("admin"),
    )
    assert r.json()["result"]["name"] == "Jane Q. Doe" and r.json()["result"]["roles"] == "agent"
    assert_sn_error(client.post(f"{T}/sys_user", json={"user_name": "x"}, headers=basic("agent")), 403)
    assert_sn_error(
        client.post(f"{T}/sys_user", json={"user_name": "bad name!"}, headers=basic("admin")),
        400,
        "user_name",
    )
    assert_sn_error(client.post(f"{T}/sys_user", json={"user_name": "jdoe"}, headers=basic("admin")), 409)
    assert_sn_error(
        client.patch(
            f"{T}/sys_user/{jane['sys_id']}", json={"email": "not-an-email"}, headers=basic("admin")
        ),
        400,
        "email",
    )
    assert_sn_error(
        client.get(f"{T}/sys_user", params={"sysparm_query": "user_passwordLIKEa"}, headers=basic("admin")),
        400,
    )


def test_attachment_api_bad_input_and_access(client, seeded):
    sys_id = seeded["vpn down"]["sys_id"]
    upload = "/api/now/attachment/file"
    params = {"file_name": "log.txt", "table_name": "incident", "table_sys_id": sys_id}
    for missing in ("file_name", "table_sys_id"):
        r = client.post(
            upload,
            params={k: v for k, v in params.items() if k != missing},
            content=b"x",
            headers=basic("agent"),
        )
        assert_sn_error(r, 400, missing)
    assert_sn_error(
        client.post(
            upload, params={**params, "table_sys_id": "0" * 32}, content=b"x", headers=basic("agent")
        ),
        404,
    )
    assert_sn_error(
        client.post(
            upload, params={**params, "file_name": "run.exe"}, content=b"MZ\x90\x00", headers=basic("agent")
        ),
        415,
    )
    assert_sn_error(client.post(upload, params=params, content=b"x", headers=basic("data_scientist")), 403)
    r = client.post(
        upload, params=params, content=b"hello", headers={**basic("requester"), "Content-Type": "text/plain"}
    )
    assert r.status_code == 201, r.text
    meta = r.json()["result"]
    assert (
        meta["table_sys_id"] == sys_id and meta["size_bytes"] == "5" and meta["sys_created_by"] == "requester"
    )
    assert (
        client.get(f"/api/now/attachment/{meta['sys_id']}/file", headers=basic("requester")).content
        == b"hello"
    )
    assert_sn_error(client.get(f"/api/now/attachment/{meta['sys_id']}", headers=basic("requester2")), 404)
    assert_sn_error(
        client.get(
            "/api/now/attachment", params={"sysparm_query": "file_name=log.txt"}, headers=basic("agent")
        ),
        400,
        "table_sys_id",
    )
    assert_sn_error(
        client.get(
            "/api/now/attachment",
            params={"sysparm_query": f"table_sys_idLIKE{sys_id}"},
            headers=basic("agent"),
        ),
        400,
    )
    assert_sn_error(client.get("/api/now/attachment/nonsense", headers=basic("agent")), 404)
    listed = client.get(
        "/api/now/attachment", params={"sysparm_query": f"table_sys_id={sys_id}"}, headers=basic("agent")
    )
    assert listed.headers["X-Total-Count"] == "1"
    assert_sn_error(client.delete(f"/api/now/attachment/{meta['sys_id']}", headers=basic("requester2")), 404)
    assert (
        client.delete(f"/api/now/attachment/{meta['sys_id']}", headers=basic("requester")).status_code == 204
    )
