"""A loopback PostgreSQL server from Debian's ``postgresql`` package, for the triage queue.

The cluster lives in ``<stack dir>/postgres/data`` (``initdb`` once), listens on 127.0.0.1
only, keeps its unix socket inside the stack's folder and has one superuser, ``fraud``, whose
password is generated once into ``<stack dir>/postgres/password`` (0600). PostgreSQL refuses
to run as root, so as root the server runs as the ``postgres`` system user; ``setpriv`` execs
the server in place, so the recorded pid is the postmaster itself and ``stop`` ends exactly it.
When that user cannot reach the stack's folder (a checkout under /root), the cluster is kept
in ``/var/tmp/fraud-worker-postgres-<hash>`` instead, recorded in ``postgres/data-location``.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import time
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from worker.errors import StackError
from worker.settings import Settings
from worker.stack import process

log = logging.getLogger(__name__)

PACKAGE_ROOT = Path("/usr/lib/postgresql")
# Where the cluster goes when the stack's folder is closed to the server's user, and the file
# in the stack's folder that says so.
RELOCATED_BASE = Path("/var/tmp")
LOCATION_FILE = "data-location"
SUPERUSER = "fraud"
SYSTEM_USER = "postgres"
DATABASE = "triage"
# DROP DATABASE … WITH (FORCE), which the tests use, came with 13.
MIN_VERSION = 13
INSTALL_HINT = (
    "run `sudo apt-get install postgresql`, or point FRAUD_TRIAGE__DATABASE_URL at a running "
    "PostgreSQL"
)


def password_path(root: Path) -> Path:
    """Where the superuser's generated password is kept (0600)."""
    return root / "password"


def find_bin_dir(base: Path = PACKAGE_ROOT, version: str | None = None) -> Path | None:
    """Debian's ``/usr/lib/postgresql/<major>/bin``: the given major, else the newest."""
    if version is not None:
        wanted = base / version / "bin"
        return wanted if (wanted / "postgres").exists() else None
    found = [d for d in base.glob("*/bin") if d.parent.name.isdigit() and (d / "postgres").exists()]
    return max(found, key=lambda d: int(d.parent.name), default=None)


def postgres_bin_dir(version: str | None = None) -> Path:
    """The server's binaries; installed from Debian's packages when we are root."""
    found = find_bin_dir(version=version)
    if found:
        return found
    if version is not None:
        raise StackError(
            f"the stack's database was made by PostgreSQL {version}, which is not installed: "
            f"apt-get install postgresql-{version}, or delete .stack/postgres to start afresh"
        )
    if os.geteuid() != 0:
        raise StackError(f"PostgreSQL is not installed: {INSTALL_HINT}")
    _apt_install("postgresql")
    found = find_bin_dir()
    if not found:
        raise StackError(f"apt-get installed postgresql but no server is in {PACKAGE_ROOT}")
    return found


def _apt_install(package: str) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", package]):
        result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise StackError(
                f"`{' '.join(command)}` failed ({last}); install {package} by hand, or point "
                "FRAUD_TRIAGE__DATABASE_URL at a running PostgreSQL"
            )


def check_server_binary(bin_dir: Path) -> None:
    """Fail with the fix unless ``bin_dir/postgres`` is a PostgreSQL server we can use."""
    binary = bin_dir / "postgres"
    try:
        out = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, check=False, timeout=30
        ).stdout
    except OSError as exc:
        raise StackError(f"{binary} cannot run ({exc.strerror}); {INSTALL_HINT}") from None
    match = re.search(r"\(PostgreSQL\) (\d+)", out)
    if not match:
        said = out.strip().splitlines()[:1]
        raise StackError(f"{binary} is not a PostgreSQL server (it said {said}); {INSTALL_HINT}")
    if int(match.group(1)) < MIN_VERSION:
        raise StackError(
            f"PostgreSQL {MIN_VERSION}+ is needed, {binary} is {match.group(1)}; {INSTALL_HINT}"
        )


def server_user() -> pwd.struct_passwd | None:
    """Who runs the server: None for ourselves; as root, the ``postgres`` system user."""
    if os.geteuid() != 0:
        return None
    with contextlib.suppress(KeyError):
        return pwd.getpwnam(SYSTEM_USER)
    command = ["useradd", "--system", "--user-group", "--no-create-home"]
    command += ["--shell", "/usr/sbin/nologin", SYSTEM_USER]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise StackError(
            f"cannot create the {SYSTEM_USER} user to run PostgreSQL ({result.stderr.strip()}); "
            f"create it with `useradd --system {SYSTEM_USER}`"
        )
    return pwd.getpwnam(SYSTEM_USER)


def as_user(user: pwd.struct_passwd | None) -> list[str]:
    """The prefix that runs a command as ``user``: setpriv execs it, so the pid stays."""
    if user is None:
        return []
    return ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups", "--"]


def libpq_url(url: str) -> str:
    """A SQLAlchemy ``postgresql+psycopg://`` URL as the plain URI that psycopg connects to."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def masked_url(url: str) -> str:
    """A database URL fit to print: no password, no query (which may carry one)."""
    return make_url(url).set(query={}).render_as_string(hide_password=True)


def external_postgres_url(settings: Settings) -> str | None:
    """FRAUD_TRIAGE__DATABASE_URL when it names a PostgreSQL: the stack then starts none."""
    url = settings.triage.database_url
    if url and make_url(url).get_backend_name() == "postgresql":
        return url
    return None


def postgres_url(settings: Settings, database: str = DATABASE) -> str:
    """The SQLAlchemy URL of ``database`` on the stack's PostgreSQL, as its superuser."""
    node = PostgresNode(settings.stack.dir.resolve() / "postgres", settings.stack.postgres_port)
    return node.url(database)


def check_answers(url: str, timeout_s: float = 2.0) -> None:
    """Raise psycopg.OperationalError unless the server at ``url`` answers ``SELECT 1``."""
    with psycopg.connect(libpq_url(url), connect_timeout=max(1, round(timeout_s))) as conn:
        conn.execute("SELECT 1")


def ensure_database(url: str, database: str) -> None:
    """Create ``database`` on the server at ``url`` unless it is there."""
    with psycopg.connect(libpq_url(url), autocommit=True, connect_timeout=5) as conn:
        query = "SELECT 1 FROM pg_database WHERE datname = %s"
        if conn.execute(query, (database,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{database}"')


class PostgresNode:
    """The stack's PostgreSQL: files under ``root``, listening on loopback."""

    def __init__(self, root: Path, port: int, bin_dir: Path | None = None) -> None:
        self.root = root
        self.port = port
        self.bin_dir = bin_dir
        self.data_dir = root / "data"
        self.socket_dir = root / "socket"
        self._relocated()
        self.log_path = root / "postgres.log"
        self.pid_path = root / "postgres.pid"
        self.password_path = password_path(root)

    @property
    def address(self) -> str:
        """Where it listens, fit to print (the password stays in its file)."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{DATABASE}"

    def url(self, database: str = DATABASE) -> str:
        """The SQLAlchemy URL of ``database`` here, as the superuser (password included)."""
        try:
            password = self.password_path.read_text().strip()
        except OSError:
            raise StackError(
                f"no PostgreSQL password at {self.password_path}: run `fraud-worker stack up` first"
            ) from None
        return f"postgresql+psycopg://{SUPERUSER}:{password}@127.0.0.1:{self.port}/{database}"

    def record(self) -> process.ProcessRecord | None:
        return process.running(self.pid_path)

    def start(self) -> process.ProcessRecord:
        bin_dir = self.bin_dir or postgres_bin_dir(self._cluster_version())
        check_server_binary(bin_dir)
        process.require_free_port(self.port, "PostgreSQL", "FRAUD_STACK__POSTGRES_PORT")
        user = server_user()
        self._prepare_folders(user)
        if self._cluster_version() is None:
            self._initdb(bin_dir, user)
        command = [
            *as_user(user),
            str(bin_dir / "postgres"),
            "-D",
            str(self.data_dir),
            "-p",
            str(self.port),
            "-k",
            str(self.socket_dir),
            "-c",
            "listen_addresses=127.0.0.1",
        ]
        return process.spawn(command, self.log_path, self.pid_path, dict(os.environ))

    def wait_ready(self, timeout_s: float) -> None:
        """Wait until the server answers as the superuser, then make sure ``triage`` exists."""
        process.wait_until_answers(
            "postgres", lambda: self.record() is not None, self._answers, timeout_s,
            self.log_path, poll_s=0.2,
        )  # fmt: skip
        ensure_database(self.url("postgres"), DATABASE)

    def _answers(self) -> bool:
        try:
            check_answers(self.url("postgres"))
        except psycopg.OperationalError:
            return False
        return True

    def stop(self, timeout_s: float = 30.0) -> None:
        """Fast shutdown (SIGINT): SIGTERM would wait for every client to hang up first."""
        record = process.read_pid_file(self.pid_path)
        if record is not None and process.is_running(record):
            os.kill(record.pid, signal.SIGINT)
            deadline = time.monotonic() + timeout_s
            while process.is_running(record) and time.monotonic() < deadline:
                time.sleep(0.1)
            process.stop(record)  # SIGTERM, then SIGKILL, should it still run
            with contextlib.suppress(ChildProcessError):
                os.waitpid(record.pid, os.WNOHANG)
        self.pid_path.unlink(missing_ok=True)

    def _cluster_version(self) -> str | None:
        """The major version that made the data folder; None before initdb."""
        with contextlib.suppress(OSError):
            return (self.data_dir / "PG_VERSION").read_text().strip()
        return None

    def _relocated(self) -> None:
        """Use the data folder recorded by an earlier start outside ``root`` (see below)."""
        with contextlib.suppress(OSError):
            elsewhere = Path((self.root / LOCATION_FILE).read_text().strip())
            self.data_dir, self.socket_dir = elsewhere / "data", elsewhere / "socket"

    def _prepare_folders(self, user: pwd.struct_passwd | None) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        moved = (self.root / LOCATION_FILE).exists()
        if user is not None and not moved and not _reachable(self.root, user):
            self._move_out(user)
        for folder in (self.data_dir, self.socket_dir):
            folder.mkdir(mode=0o700, exist_ok=True)
            if user is not None:
                os.chown(folder, user.pw_uid, user.pw_gid)
        if user is not None and not _reachable(self.data_dir, user):
            raise StackError(
                f"the {user.pw_name} user that runs PostgreSQL cannot reach {self.data_dir}: "
                "let others search its parent folders (chmod o+x), or set FRAUD_STACK__DIR "
                "to a folder it can reach"
            )

    def _move_out(self, user: pwd.struct_passwd) -> None:
        """The stack's folder is closed to the server's user (a clone under /root, or in a
        0700 temporary folder): keep the cluster in /var/tmp instead, one folder per stack,
        and record where. A folder left there by a stack since removed is wiped: its
        password went with that stack."""
        digest = hashlib.sha1(str(self.root.resolve()).encode()).hexdigest()[:12]
        elsewhere = RELOCATED_BASE / f"fraud-worker-postgres-{digest}"
        shutil.rmtree(elsewhere, ignore_errors=True)
        elsewhere.mkdir(mode=0o700, parents=True)
        os.chown(elsewhere, user.pw_uid, user.pw_gid)
        (self.root / LOCATION_FILE).write_text(f"{elsewhere}\n")
        self.data_dir, self.socket_dir = elsewhere / "data", elsewhere / "socket"
        log.info("PostgreSQL keeps its data in %s (%s is closed to %s)", elsewhere, self.root,
                 user.pw_name)  # fmt: skip

    def _initdb(self, bin_dir: Path, user: pwd.struct_passwd | None) -> None:
        if not self.password_path.exists():
            self.password_path.touch(mode=0o600)
            self.password_path.write_text(secrets.token_urlsafe(24) + "\n")
        # initdb reads the password as the server's user; the kept file stays ours alone.
        pwfile = self.socket_dir / "initdb-password"
        shutil.copyfile(self.password_path, pwfile)
        if user is not None:
            os.chown(pwfile, user.pw_uid, user.pw_gid)
        command = [*as_user(user), str(bin_dir / "initdb"), "-D", str(self.data_dir)]
        command += ["-U", SUPERUSER, f"--pwfile={pwfile}", "--auth=scram-sha-256"]
        command += ["--encoding=UTF8", "--no-locale"]
        try:
            result = subprocess.run(command, capture_output=True, text=True, check=False)
        finally:
            pwfile.unlink(missing_ok=True)
        (self.root / "initdb.log").write_text(result.stdout + result.stderr)
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise StackError(
                f"initdb failed ({last}); see {self.root / 'initdb.log'}, or delete "
                f"{self.data_dir} to start afresh"
            )



def _reachable(folder: Path, user: pwd.struct_passwd) -> bool:
    """Whether ``user`` can enter ``folder``: every parent must be searchable by it."""
    command = [*as_user(user), "test", "-x", str(folder)]
    return subprocess.run(command, capture_output=True, check=False).returncode == 0
