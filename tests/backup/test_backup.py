"""`itsm-ai backup` / `itsm-ai restore`: round trip, a backup under concurrent writes, corrupt archives."""

from __future__ import annotations

import gzip
import io
import json
import shutil
import tarfile
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from tests.conftest import clean_database

T = datetime(2016, 3, 1, 9, tzinfo=UTC)
ATTACHMENT = bytes(range(256)) * 40 + b"tail"

pytestmark = pytest.mark.db


@pytest.fixture
def cli(db, needs_pg_tools):
    from itsm_ai.cli import app

    runner = CliRunner()

    def invoke(*args):
        result = runner.invoke(app, [str(a) for a in args])
        # A SQLite restore renames a new file into place: the tests' own pool would keep reading the old one.
        db.dispose()
        return result

    return invoke


def _restore(db, **kwargs):
    from itsm_ai.backup import service

    try:
        return service.restore_backup(**kwargs)
    finally:
        db.dispose()


def _create_incidents(n: int, *, start: int = 0) -> list[str]:
    from itsm_ai.database import get_session
    from itsm_ai.records import service as records
    from itsm_ai.ticket.models import IncidentCreate
    from itsm_ai.ticket.service import INCIDENT

    numbers = []
    with get_session() as session:
        for i in range(start, start + n):
            data = IncidentCreate(short_description=f"t{i}", opened_at=T + timedelta(minutes=i)).model_dump()
            numbers.append(records.create(db_session=session, spec=INCIDENT, data=data, actor=None).number)
    return numbers


def _attach(number: str, data: bytes) -> str:
    from itsm_ai.attachment import service as attachments
    from itsm_ai.database import get_session
    from itsm_ai.records import service as records
    from itsm_ai.ticket.service import INCIDENT

    with get_session() as session:
        obj = records.get(db_session=session, spec=INCIDENT, ref=number)
        stream = io.BytesIO(data)
        row = attachments.add(
            db_session=session, spec=INCIDENT, obj=obj, stream=stream, filename="log.txt", actor=None
        )
        return row.storage_key


def _incident_descriptions() -> list[str]:
    from itsm_ai.database import get_session
    from itsm_ai.ticket.service import INCIDENT

    model = INCIDENT.model
    with get_session() as session:
        return list(session.scalars(select(model.short_description).order_by(model.id)))


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _populate(folders) -> dict[str, dict[str, bytes]]:
    """Tickets, an attachment, a model version and an index snapshot; returns the folders' files."""
    from itsm_ai.engine import install

    install()
    numbers = _create_incidents(3)
    key = _attach(numbers[0], ATTACHMENT)
    assert (folders["attachments"] / key).read_bytes() == ATTACHMENT
    version = folders["models"] / "category" / "v1"
    version.mkdir(parents=True)
    (version / "model.joblib").write_bytes(b"\x80\x04model-bytes" * 100)
    (version / "metadata.json").write_text('{"version": 1}')
    (folders["models"] / "category" / "CURRENT").write_text("v1")
    # A half-written temp directory of the registry: never part of a backup.
    (folders["models"] / "category" / ".tmp-abc").mkdir()
    (folders["models"] / "category" / ".tmp-abc" / "model.joblib").write_bytes(b"partial")
    (folders["index"] / "snap-1").mkdir(parents=True)
    (folders["index"] / "snap-1" / "vectors.npy").write_bytes(b"\x93NUMPY" + bytes(500))
    (folders["index"] / "CURRENT").write_text("snap-1")
    return {section: _files(root) for section, root in folders.items()}


def _wipe(db, folders) -> None:
    clean_database(db)
    for root in folders.values():
        shutil.rmtree(root, ignore_errors=True)


def test_round_trip_brings_everything_back(cli, db, folders, tmp_path):
    before = _populate(folders)
    descriptions = _incident_descriptions()
    archive = tmp_path / "out" / "backup.tar.gz"

    result = cli("backup", archive)
    assert result.exit_code == 0, result.output
    with tarfile.open(archive, "r:gz") as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())
        names = set(tar.getnames())
    assert manifest["format_version"] == 1
    assert manifest["database_kind"] == db.dialect.name
    assert manifest["alembic_revision"]
    assert manifest["app_version"]
    assert not any(".tmp-" in name for name in names)
    assert "models/category/v1/model.joblib" in manifest["files"]

    _wipe(db, folders)
    assert _incident_descriptions() == []

    result = cli("restore", archive)
    assert result.exit_code == 0, result.output
    assert _incident_descriptions() == descriptions == ["t0", "t1", "t2"]
    after = {section: _files(root) for section, root in folders.items()}
    before["models"] = {k: v for k, v in before["models"].items() if ".tmp-" not in k}
    assert after == before
    # The attachment row points at the restored bytes.
    from itsm_ai.attachment import service as attachments
    from itsm_ai.attachment.models import Attachment
    from itsm_ai.database import get_session

    with get_session() as session:
        row = session.scalars(select(Attachment)).one()
        with attachments.open_bytes(row) as fh:
            assert fh.read() == ATTACHMENT
    # The restored store works: new tickets continue the numbering.
    assert _create_incidents(1, start=3)


def test_restore_refuses_a_store_in_use_without_force(cli, db, folders, tmp_path):
    _populate(folders)
    archive = tmp_path / "backup.tar.gz"
    assert cli("backup", archive).exit_code == 0
    _create_incidents(2, start=10)

    result = cli("restore", archive)
    assert result.exit_code == 2
    assert "not empty" in result.output and "--force" in result.output
    assert len(_incident_descriptions()) == 5

    result = cli("restore", archive, "--force")
    assert result.exit_code == 0, result.output
    assert _incident_descriptions() == ["t0", "t1", "t2"]


def _rewrite(archive: Path, target: Path, change) -> None:
    """Copy the archive member by member, letting `change(name, bytes)` alter a file's bytes."""
    with tarfile.open(archive, "r:gz") as src, tarfile.open(target, "w:gz") as dst:
        for member in src.getmembers():
            if member.isfile():
                data = change(member.name, src.extractfile(member).read())
                member.size = len(data)
                dst.addfile(member, io.BytesIO(data))
            else:
                dst.addfile(member)


def _flip_attachment(name: str, data: bytes) -> bytes:
    return data[:-1] + b"X" if name.startswith("attachments/") and not name.endswith("/") else data


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda a, t: _rewrite(a, t, _flip_attachment), id="changed-file"),
        pytest.param(
            lambda a, t: _rewrite(
                a,
                t,
                lambda n, d: d.replace(b'"format_version": 1', b'"format_version": 9')
                if n == "manifest.json"
                else d,
            ),
            id="future-format",
        ),
        pytest.param(lambda a, t: t.write_bytes(a.read_bytes()[: len(a.read_bytes()) // 2]), id="truncated"),
        pytest.param(lambda a, t: t.write_bytes(gzip.compress(b"not a tar at all")), id="not-tar"),
        pytest.param(lambda a, t: t.write_bytes(b"PK\x03\x04 a zip file"), id="not-gzip"),
        pytest.param(lambda a, t: _foreign(t), id="foreign-tar"),
    ],
)
def test_corrupt_or_foreign_archive_exits_2_and_changes_nothing(cli, db, folders, tmp_path, make):
    before = _populate(folders)
    archive = tmp_path / "backup.tar.gz"
    assert cli("backup", archive).exit_code == 0
    _create_incidents(1, start=20)
    descriptions = _incident_descriptions()
    bad = tmp_path / "bad.tar.gz"
    make(archive, bad)

    for args in (("restore", bad), ("restore", bad, "--force")):
        result = cli(*args)
        assert result.exit_code == 2, result.output
        assert "error" in result.output
        assert _incident_descriptions() == descriptions
        assert {section: _files(root) for section, root in folders.items()} == before


def _foreign(target: Path) -> None:
    with tarfile.open(target, "w:gz") as tar:
        data = b"hello"
        info = tarfile.TarInfo("readme.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def test_missing_archive_is_bad_input(cli, tmp_path):
    result = cli("restore", tmp_path / "nope.tar.gz")
    assert result.exit_code == 2
    assert "no such file" in result.output


def test_backup_while_another_thread_writes_is_consistent(db, folders, tmp_path, needs_pg_tools):
    """Tickets are written three per transaction: a consistent snapshot holds a multiple of three."""
    from itsm_ai.backup import service
    from itsm_ai.engine import install

    install()
    stop = threading.Event()
    written = [0]
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            while not stop.is_set():
                _create_incidents(3, start=written[0])
                written[0] += 3
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while written[0] < 9 and thread.is_alive():
            threading.Event().wait(0.01)
        started_at = written[0]
        archive = tmp_path / "live.tar.gz"
        service.create_backup(target=archive)
        backed_up_after = written[0]
        threading.Event().wait(0.2)
    finally:
        stop.set()
        thread.join()
    assert not errors, errors
    final = written[0]
    assert final > started_at

    _restore(db, source=archive, force=True)
    restored = _incident_descriptions()
    assert len(restored) % 3 == 0
    assert started_at <= len(restored) <= max(backed_up_after + 3, started_at)
    assert restored == [f"t{i}" for i in range(len(restored))]


def test_older_archive_is_migrated_to_head(db, folders, tmp_path, needs_pg_tools):
    from itsm_ai.backup import service
    from itsm_ai.migrate import current, upgrade

    head = current(db)
    _populate(folders)
    from alembic import command

    from itsm_ai.migrate import alembic_config

    cfg = alembic_config()
    with db.begin() as connection:
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, "-1")
    older = current(db)
    assert older != head
    try:
        archive = tmp_path / "old.tar.gz"
        manifest = service.create_backup(target=archive)
        assert manifest.alembic_revision == older
    finally:
        upgrade(db)
    result = _restore(db, source=archive, force=True)
    assert (result.restored_revision, result.revision) == (older, head)
    assert current(db) == head
    assert _incident_descriptions() == ["t0", "t1", "t2"]


def test_counts_match_after_round_trip(db, folders, tmp_path, needs_pg_tools):
    """Every row of every table comes back, not only the tickets."""
    from itsm_ai.all_models import metadata
    from itsm_ai.backup import service

    _populate(folders)
    counts = _counts(db, metadata)
    archive = tmp_path / "b.tar.gz"
    service.create_backup(target=archive)
    _wipe(db, folders)
    _restore(db, source=archive)
    assert _counts(db, metadata) == counts
    assert sum(counts.values()) > 3


def _counts(db, metadata) -> dict[str, int]:
    with db.connect() as connection:
        count = select(func.count())
        return {t.name: connection.execute(count.select_from(t)).scalar() for t in metadata.sorted_tables}


def test_missing_pg_dump_is_a_clear_error(monkeypatch, tmp_path):
    from itsm_ai.backup import service
    from itsm_ai.cli import app
    from itsm_ai.config import get_settings

    monkeypatch.setattr(get_settings(), "database_url", "postgresql+psycopg://u:pw@127.0.0.1:1/nowhere")
    monkeypatch.setattr(service.shutil, "which", lambda name: None)
    result = CliRunner().invoke(app, ["backup", str(tmp_path / "b.tar.gz")])
    assert result.exit_code == 1
    assert "pg_dump was not found" in result.output
    assert not (tmp_path / "b.tar.gz").exists()
    assert not any(p.name.startswith(".backup-") for p in tmp_path.iterdir())  # staging removed


def test_bookkeeping_rows_do_not_make_a_store_in_use(db, folders):
    from sqlalchemy import text

    from itsm_ai.backup import service
    from itsm_ai.config import get_settings

    with db.begin() as connection:  # what migration 0010 seeds into every new database
        connection.execute(
            text(
                "INSERT INTO record_counters (record_type, next_number, row_count, generation) "
                "VALUES ('group', 1, 0, 1)"
            )
        )
    assert service.store_in_use(settings=get_settings()) == []
    _create_incidents(1)
    (folders["models"] / "x").mkdir(parents=True)
    (folders["models"] / "x" / "m.joblib").write_bytes(b"m")
    used = service.store_in_use(settings=get_settings())
    assert used[0] == "database" and used[1].startswith("models")


def test_backup_into_a_backed_up_folder_is_refused(cli, folders):
    result = cli("backup", folders["models"] / "b.tar.gz")
    assert result.exit_code == 2
    assert "outside the models folder" in result.output
    assert not (folders["models"] / "b.tar.gz").exists()
