"""Writing and restoring backup archives (tar.gz): database dump, attachments, models, retrieval index."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from sqlalchemy import inspect, text
from sqlalchemy.engine import URL, make_url

from itsm_ai import __version__
from itsm_ai.backup import manifest as mf
from itsm_ai.config import Settings, get_settings
from itsm_ai.records import fulltext

Step = Callable[[str], None]


class BackupError(Exception):
    """A backup or restore that cannot go ahead; `code` is the CLI exit status (2: bad input)."""

    def __init__(self, message: str, *, code: int = 2):
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class RestoreResult:
    """What a restore did: the manifest it read and the schema revision before and after migrating."""

    manifest: mf.Manifest
    restored_revision: str | None
    revision: str | None


def locations(*, settings: Settings) -> dict[str, Path]:
    """The folders a backup holds, by archive section (the same defaults the features use)."""
    data_dir = Path(settings.data_dir)
    return {
        "attachments": Path(settings.attachment_dir or data_dir / "attachments"),
        "models": Path(settings.models_dir),
        "index": Path(settings.knowledge_index_dir or data_dir / "index"),
    }


def database_kind(*, url: str) -> str:
    """sqlite or postgresql, from a SQLAlchemy URL."""
    backend = make_url(url).get_backend_name()
    if backend not in mf.DATABASE_MEMBERS:
        raise BackupError(f"backups support SQLite and PostgreSQL, not {backend}", code=1)
    return backend


def _noop(_: str) -> None:
    return None


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up or restored", code=1)
    return Path(database)


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq connection string for pg_dump/pg_restore, with the password in the environment (not argv)."""
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    plain = URL.create(
        "postgresql",
        username=parsed.username,
        host=parsed.host,
        port=parsed.port,
        database=parsed.database,
        query=parsed.query,
    )
    return plain.render_as_string(hide_password=False), env


def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} was not found on PATH: install the PostgreSQL client tools (e.g. apt install "
            f"postgresql-client) matching the server version",
            code=1,
        )
    return found


def _run(argv: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BackupError(f"{Path(argv[0]).name} failed: {done.stderr.strip() or done.returncode}", code=1)


def _dump_database(url: str, kind: str, target: Path) -> None:
    if kind == "sqlite":
        source = _sqlite_path(url)
        if not source.is_file():
            raise BackupError(f"the SQLite database {source} does not exist", code=1)
        # The online backup API copies a consistent snapshot while other connections keep writing; one step
        # (pages=-1) holds the read lock for the whole copy, so concurrent writes cannot restart it forever.
        src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
        dst = sqlite3.connect(target)
        try:
            src.backup(dst, pages=-1)
        finally:
            dst.close()
            src.close()
        return
    conninfo, env = _libpq(url)
    pg_dump = _pg_tool("pg_dump")
    _run([pg_dump, "--format=custom", "--no-owner", f"--file={target}", f"--dbname={conninfo}"], env)


def _current_revision(url: str) -> str | None:
    from itsm_ai.database import make_engine
    from itsm_ai.migrate import current

    engine = make_engine(url)
    try:
        return current(engine)
    finally:
        engine.dispose()


def _walk(section: str, root: Path) -> Iterator[tuple[str, Path]]:
    """(archive name, file) of every file of the store folder, unfinished writes left out."""
    if not root.is_dir():
        return
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue
        relative = PurePosixPath(path.relative_to(root).as_posix())
        if not mf.skipped(section, relative):
            yield f"{section}/{relative}", path


def create_backup(*, target: Path, settings: Settings | None = None, step: Step = _noop) -> mf.Manifest:
    """Write one tar.gz with the database, attachments, models and index, plus a manifest of hashes."""
    settings = settings or get_settings()
    url = settings.database_url
    kind = database_kind(url=url)
    target = Path(target)
    for section, root in locations(settings=settings).items():
        # An archive written into a folder it backs up would hold its own staging copies.
        if target.resolve().is_relative_to(root.resolve()):
            raise BackupError(f"write the backup outside the {section} folder {root}")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".backup-", dir=target.parent))
    try:
        files: dict[str, dict] = {}
        step("database")
        db_member = mf.DATABASE_MEMBERS[kind]
        db_file = staging / db_member
        db_file.parent.mkdir(parents=True)
        _dump_database(url, kind, db_file)
        files[db_member] = mf.file_entry(db_file)
        revision = _current_revision(url)
        for section, root in locations(settings=settings).items():
            step(section)
            (staging / section).mkdir()
            for name, path in _walk(section, root):
                # Copy first, then hash the copy: a file replaced meanwhile never gets a hash of other bytes.
                copy = staging / name
                copy.parent.mkdir(parents=True, exist_ok=True)
                try:
                    shutil.copy2(path, copy)
                except FileNotFoundError:  # deleted since the listing (e.g. a swept orphan)
                    continue
                files[name] = mf.file_entry(copy)
        manifest = mf.Manifest(
            created_at=datetime.now(UTC).isoformat(),
            database_kind=kind,
            alembic_revision=revision,
            app_version=__version__,
            files=files,
        )
        (staging / mf.MANIFEST_NAME).write_text(manifest.to_json(), encoding="utf-8")
        step("archive")
        partial = staging / "archive.tar.gz"
        # Level 6 (gzip's default) instead of tarfile's 9: about twice as fast, a few per cent larger.
        with tarfile.open(partial, "w:gz", compresslevel=6) as tar:
            # The manifest first: a restore reads it before anything else.
            tar.add(staging / mf.MANIFEST_NAME, arcname=mf.MANIFEST_NAME)
            for section in ("database", *mf.SECTIONS):
                tar.add(staging / section, arcname=section)
        os.replace(partial, target)
        return manifest
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _extract(source: Path, staging: Path) -> mf.Manifest:
    """Unpack the archive into `staging` and check it against its manifest (raises ManifestError)."""
    try:
        with tarfile.open(source, "r:gz") as tar:
            members = tar.getmembers()
            names = {m.name for m in members}
            if mf.MANIFEST_NAME not in names:
                raise mf.ManifestError("not an itsm-ai backup: the archive has no manifest.json")
            bad = [m.name for m in members if not mf.safe_member(m.name) or not (m.isfile() or m.isdir())]
            if bad:
                raise mf.ManifestError(f"the archive holds unexpected entries: {', '.join(bad[:3])}")
            manifest_file = tar.extractfile(mf.MANIFEST_NAME)
            assert manifest_file is not None
            manifest = mf.parse(manifest_file.read())
            tar.extractall(staging, filter="data")
    except (tarfile.TarError, EOFError, OSError, UnicodeDecodeError) as exc:
        raise mf.ManifestError(f"not a readable tar.gz archive ({exc})") from exc
    present = {
        path.relative_to(staging).as_posix(): mf.file_entry(path)
        for path in staging.rglob("*")
        if path.is_file() and path != staging / mf.MANIFEST_NAME
    }
    mf.check_files(manifest, present)
    return manifest


def _known_revision(revision: str | None) -> None:
    if revision is None:
        return
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    from itsm_ai.migrate import alembic_config

    try:
        found = ScriptDirectory.from_config(alembic_config()).get_revision(revision)
    except CommandError:
        found = None
    if found is None:
        raise BackupError(
            f"the backup's schema revision {revision} is unknown to this version of itsm-ai (a newer release "
            f"made it); restore it with that release"
        )


# Rows every migrated database has (the schema revision; counters 0010 seeds): they are not data to lose.
BOOKKEEPING_TABLES = frozenset({"alembic_version", "record_counters"})


def _database_has_rows(url: str, kind: str) -> bool:
    if kind == "sqlite" and not _sqlite_path(url).is_file():
        return False
    from itsm_ai.database import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            names = inspect(connection).get_table_names()
            # SQLite's full-text tables (and FTS5's shadow tables, which hold rows even when empty) mirror the
            # ticket tables: they say nothing of their own. Nor do the task queue's (huey_*, on PostgreSQL).
            derived = (*(fulltext.fts_table(t) for t in names), "sqlite_", "huey_")
            tables = [t for t in names if t not in BOOKKEEPING_TABLES and not t.startswith(derived)]
            return any(
                connection.execute(text(f'SELECT 1 FROM "{table}" LIMIT 1')).first() is not None
                for table in tables
            )
    finally:
        engine.dispose()


def store_in_use(*, settings: Settings) -> list[str]:
    """Parts of the store holding data (database rows, files in the folders) that a restore would replace."""
    used = []
    kind = database_kind(url=settings.database_url)
    if _database_has_rows(settings.database_url, kind):
        used.append("database")
    for section, root in locations(settings=settings).items():
        if next(_walk(section, root), None) is not None:
            used.append(f"{section} ({root})")
    return used


def _restore_sqlite(url: str, dump: Path) -> None:
    from itsm_ai.database import reset_engine

    target = _sqlite_path(url)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".restore", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        shutil.copyfile(dump, tmp)
        with tmp.open("rb") as fh:
            os.fsync(fh.fileno())
        check = sqlite3.connect(tmp)
        try:
            ok = check.execute("PRAGMA integrity_check").fetchone()
        finally:
            check.close()
        if not ok or ok[0] != "ok":
            raise BackupError(f"the database in the archive fails SQLite's integrity check: {ok}")
        # Close this process's pool, then fold the old WAL into the old file: a WAL left beside the new file
        # would be replayed onto it.
        reset_engine()
        if target.exists():
            old = sqlite3.connect(target, timeout=30)
            try:
                old.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                old.close()
        os.replace(tmp, target)
        for suffix in ("-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
    finally:
        tmp.unlink(missing_ok=True)


def _current_schema(url: str) -> str:
    from itsm_ai.database import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return str(connection.execute(text("SELECT current_schema()")).scalar_one())
    finally:
        engine.dispose()


def _restore_postgresql(url: str, dump: Path) -> None:
    from itsm_ai.database import reset_engine

    reset_engine()
    schema = _current_schema(url).replace('"', '""')
    conninfo, env = _libpq(url)
    script = dump.with_suffix(".sql")
    _run([_pg_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", f"--file={script}", str(dump)], env)
    # --clean drops only what the dump holds: tables and types of newer migrations would survive and make the
    # upgrade to head fail. So the schema is emptied first, in the same transaction as the restore (psql -1):
    # a failing restore leaves the database as it was.
    _run(
        [
            _pg_tool("psql"),
            "--single-transaction",
            "--quiet",
            "--no-psqlrc",
            "--set=ON_ERROR_STOP=1",
            f'--command=DROP SCHEMA IF EXISTS "{schema}" CASCADE; CREATE SCHEMA "{schema}";',
            f"--file={script}",
            f"--dbname={conninfo}",
        ],
        env,
    )


def _replace_dir(staged: Path, target: Path) -> None:
    """Put the staged folder where the target is; the old one is moved aside first and removed last."""
    target.parent.mkdir(parents=True, exist_ok=True)
    aside = None
    if target.exists():
        aside = target.with_name(f".{target.name}.old-{os.getpid()}")
        shutil.rmtree(aside, ignore_errors=True)
        os.replace(target, aside)
    shutil.move(str(staged), str(target))
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)


def restore_backup(
    *, source: Path, force: bool = False, settings: Settings | None = None, step: Step = _noop
) -> RestoreResult:
    """Check the archive, then put its database and folders in place and migrate to head if it is older."""
    settings = settings or get_settings()
    url = settings.database_url
    kind = database_kind(url=url)
    source = Path(source)
    if not source.is_file():
        raise BackupError(f"{source}: no such file")
    # Staged beside the data folder so the folders move into place by rename where they share its disk.
    staging_parent = Path(settings.data_dir)
    staging_parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".restore-", dir=staging_parent))
    try:
        step("check")
        try:
            manifest = _extract(source, staging)
        except mf.ManifestError as exc:
            raise BackupError(str(exc)) from exc
        if manifest.database_kind != kind:
            raise BackupError(
                f"the archive holds a {manifest.database_kind} database but the configured one is {kind}"
            )
        _known_revision(manifest.alembic_revision)
        used = store_in_use(settings=settings)
        if used and not force:
            raise BackupError(
                f"the store is not empty ({', '.join(used)}); pass --force to replace it with the backup"
            )
        step("database")
        dump = staging / manifest.database_member
        if kind == "sqlite":
            _restore_sqlite(url, dump)
        else:
            _restore_postgresql(url, dump)
        for section, root in locations(settings=settings).items():
            step(section)
            staged = staging / section
            if not staged.is_dir():
                staged.mkdir()
            _replace_dir(staged, root)
        step("migrate")
        from itsm_ai.database import reset_engine
        from itsm_ai.migrate import upgrade

        reset_engine()
        restored = _current_revision(url)
        upgrade()
        return RestoreResult(manifest=manifest, restored_revision=restored, revision=_current_revision(url))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
