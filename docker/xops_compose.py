"""Set-up steps of ``docker-compose.yaml`` that a shell one-liner would get wrong.

- ``init-secrets`` (``airflow-init``, as root, before Airflow is importable): the JWT signing secret
  and the Fernet key, generated once and kept in the secrets volume, and the SimpleAuthManager
  passwords file, rewritten from ``AIRFLOW_ADMIN_PASSWORD`` on every start. Standard library only.
- ``simulator-tls`` (``xops-simulator``): a CA and a server certificate for the simulator's compose
  host name. The simulator keeps certificates it finds in its state directory, and its own cover
  only loopback.
- ``demo-connection`` (``xops-demo-tenant``): the ``ms_tenant_default`` connection to the simulator,
  written to the metadata DB.

The secrets are never printed.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
import secrets
import sys
from pathlib import Path

JWT_SECRET_FILE = "jwt_secret"
FERNET_KEY_FILE = "fernet_key"
PASSWORDS_FILE = "simple_auth_manager_passwords.json"
#: The host names the simulator's certificate always covers besides the compose one.


def _write_private(path: Path, data: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(data)
    os.replace(temporary, path)


def _users(spec: str) -> list[str]:
    """The user names of ``[core] simple_auth_manager_users`` (``name:role`` items, comma separated)."""
    return [item.split(":", 1)[0].strip() for item in spec.split(",") if item.strip()]


def init_secrets(*, directory: Path, users_spec: str, password: str) -> None:
    """Create the missing secrets in ``directory`` and rewrite the passwords file.

    :param directory: the secrets volume.
    :param users_spec: the value of ``[core] simple_auth_manager_users``.
    :param password: the password every configured user gets.
    """
    directory.mkdir(parents=True, exist_ok=True)
    jwt_secret = directory / JWT_SECRET_FILE
    if not jwt_secret.exists():
        _write_private(jwt_secret, secrets.token_urlsafe(64))
    fernet_key = directory / FERNET_KEY_FILE
    if not fernet_key.exists():
        # The format of cryptography's Fernet.generate_key(): 32 random bytes, URL-safe base64.
        _write_private(fernet_key, base64.urlsafe_b64encode(os.urandom(32)).decode())
    users = _users(users_spec)
    if not users:
        raise SystemExit("init-secrets: AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS names no user")
    if not password:
        raise SystemExit("init-secrets: AIRFLOW_ADMIN_PASSWORD is empty")
    _write_private(directory / PASSWORDS_FILE, json.dumps(dict.fromkeys(users, password)) + "\n")


def _covers(cert_path: Path, names: list[str]) -> bool:
    from cryptography import x509

    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, x509.ExtensionNotFound):
        return False
    present = {*san.get_values_for_type(x509.DNSName)}
    present |= {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    return set(names) <= present and cert.not_valid_after_utc > dt.datetime.now(dt.UTC)


def simulator_tls(*, state_dir: Path, hostname: str) -> None:
    """Write ``ca.pem``, ``server.pem`` and ``server-key.pem`` for ``hostname``, unless they cover it.

    :param state_dir: the simulator's state directory.
    :param hostname: the simulator's host name on the compose network.
    """
    from xops_provider.simulator.tls import LOOPBACK_NAMES, ensure_tls

    names = [hostname, *LOOPBACK_NAMES]
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if _covers(state_dir / "server.pem", names) and (state_dir / "ca.pem").exists():
        return
    for stale in ("ca.pem", "server.pem", "server-key.pem"):
        (state_dir / stale).unlink(missing_ok=True)
    ensure_tls(state_dir, names=tuple(names))


def demo_connection(*, state_dir: Path, base_url: str, conn_id: str) -> None:
    """Replace the ``conn_id`` connection in the metadata DB with one that reaches the simulator.

    :param state_dir: the simulator's state directory (its client secret and CA).
    :param base_url: the simulator's URL on the compose network.
    :param conn_id: the connection id.
    """
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session
    from sqlalchemy import delete

    from xops_provider.simulator.server import client_secret, connection

    fields = connection(base_url=base_url, secret=client_secret(state_dir), ca_path=state_dir / "ca.pem")
    with create_session() as session:
        session.execute(delete(Connection).where(Connection.conn_id == conn_id))
        session.add(
            Connection(
                conn_id=conn_id,
                conn_type=fields["conn_type"],
                login=fields["login"],
                password=fields["password"],
                extra=json.dumps(fields["extra"]),
                description="The bundled Defender simulator (docker compose --profile demo)",
            )
        )
    print(f"connection {conn_id!r} -> {base_url}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="xops_compose.py", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    init = commands.add_parser("init-secrets", help="JWT secret, Fernet key and the passwords file")
    init.add_argument("--dir", type=Path, required=True)
    tls = commands.add_parser("simulator-tls", help="certificates for the simulator's host name")
    tls.add_argument("--state-dir", type=Path, required=True)
    tls.add_argument("--hostname", required=True)
    demo = commands.add_parser("demo-connection", help="the ms_tenant connection to the simulator")
    demo.add_argument("--state-dir", type=Path, required=True)
    demo.add_argument("--base-url", required=True)
    demo.add_argument("--conn-id", default="ms_tenant_default")
    args = parser.parse_args(argv)
    if args.command == "init-secrets":
        init_secrets(
            directory=args.dir,
            users_spec=os.environ.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", ""),
            password=os.environ.get("AIRFLOW_ADMIN_PASSWORD", ""),
        )
    elif args.command == "simulator-tls":
        simulator_tls(state_dir=args.state_dir, hostname=args.hostname)
    else:
        demo_connection(state_dir=args.state_dir, base_url=args.base_url, conn_id=args.conn_id)
    return 0


if __name__ == "__main__":
    sys.exit(main())
