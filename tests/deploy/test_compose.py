"""The docker-compose layout, checked by structure against the installed Airflow 3.3.2 and its providers."""

from __future__ import annotations

import graphlib
import importlib
import re
import shlex

import pytest

from tests.deploy.conftest import REPO, SECRETS_MOUNT, interpolate, load_compose, service_env

_COMPOSE = load_compose()
SERVICES = _COMPOSE["services"]
#: The official Airflow 3 Celery layout: always started.
CORE_SERVICES = {
    "postgres",
    "redis",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-worker",
    "airflow-triggerer",
    "airflow-init",
}
PROFILES = {"airflow-cli": "debug", "flower": "flower", "xops-simulator": "demo", "xops-demo-tenant": "demo"}
#: Services that run once and exit; every other one runs until stopped and needs a healthcheck.
ONE_SHOT = {"airflow-init", "airflow-cli", "xops-demo-tenant"}
LONG_RUNNING = sorted(set(SERVICES) - ONE_SHOT)
AIRFLOW_SERVICES = sorted(
    name for name, spec in SERVICES.items() if "AIRFLOW__CORE__EXECUTOR" in service_env(spec)
)
IMAGE_SERVICES = sorted(name for name, spec in SERVICES.items() if "build" in spec)
DEPENDENCIES = [
    pytest.param(name, target, (spec or {}).get("condition"), id=f"{name}->{target}")
    for name, service in SERVICES.items()
    for target, spec in (service.get("depends_on") or {}).items()
]
_OPTION_VARIABLE = re.compile(r"AIRFLOW__(?P<section>[A-Z0-9_.]+?)__(?P<key>[A-Z0-9_]+)")
AIRFLOW_VARIABLES = sorted(
    {key for spec in SERVICES.values() for key in service_env(spec) if key.startswith("AIRFLOW__")}
)
SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
FAB_AUTH_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"


def _mounts(service: str) -> dict[str, str]:
    """Container path -> source of a service's volumes."""
    mounts = {}
    for volume in SERVICES[service].get("volumes") or []:
        source, target, *_ = interpolate(volume).split(":")
        mounts[target] = source
    return mounts


def _command(service: str) -> str:
    command = SERVICES[service].get("command") or ""
    return interpolate(command if isinstance(command, str) else " ".join(command))


def _dockerignore() -> list[str]:
    lines = (line.strip() for line in (REPO / ".dockerignore").read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _argument(command: str, flag: str) -> str:
    words = shlex.split(command)
    return words[words.index(flag) + 1]


@pytest.fixture(scope="module")
def configuration_description() -> dict:
    """Every option of Airflow and of its installed providers (celery, this one...), by section."""
    from airflow.configuration import conf
    from airflow.providers_manager import ProvidersManager

    ProvidersManager().initialize_providers_configuration()
    return conf.configuration_description


class TestServices:
    def test_official_celery_layout_and_profiles(self):
        profiled = {name: spec["profiles"] for name, spec in SERVICES.items() if "profiles" in spec}
        assert set(SERVICES) - set(profiled) == CORE_SERVICES
        assert profiled == {name: [profile] for name, profile in PROFILES.items()}

    @pytest.mark.parametrize("service", IMAGE_SERVICES)
    def test_one_image_built_from_the_dockerfile(self, service):
        spec = SERVICES[service]
        assert spec["build"] == "."
        assert interpolate(spec["image"]) == "xops-provider-airflow:0.1.0"

    def test_every_service_but_the_databases_runs_the_image(self):
        assert set(SERVICES) - set(IMAGE_SERVICES) == {"postgres", "redis"}

    @pytest.mark.parametrize("service", sorted(SERVICES))
    def test_no_packages_installed_at_start(self, service):
        assert "_PIP_ADDITIONAL_REQUIREMENTS" not in service_env(SERVICES[service])

    @pytest.mark.parametrize(("service", "target", "condition"), DEPENDENCIES)
    def test_dependency_is_a_known_service_with_a_fitting_condition(self, service, target, condition):
        assert target in SERVICES
        if condition == "service_healthy":
            assert "healthcheck" in SERVICES[target]
        else:
            assert condition == "service_completed_successfully"
            assert target in ONE_SHOT
        # Compose refuses to start a service whose dependency sits in a profile that is not enabled.
        assert set(SERVICES[target].get("profiles", [])) <= set(SERVICES[service].get("profiles", []))

    def test_dependencies_have_no_cycle(self):
        graph = {name: set(spec.get("depends_on") or {}) for name, spec in SERVICES.items()}
        order = list(graphlib.TopologicalSorter(graph).static_order())
        assert order.index("airflow-init") < order.index("airflow-worker")

    @pytest.mark.parametrize("service", LONG_RUNNING)
    def test_long_running_service_has_a_healthcheck_and_restarts(self, service):
        spec = SERVICES[service]
        assert spec["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL")
        assert spec["restart"] == "always"

    @pytest.mark.parametrize("service", sorted(ONE_SHOT))
    def test_one_shot_service_is_not_restarted(self, service):
        assert SERVICES[service].get("restart", "no") == "no"

    @pytest.mark.parametrize("service", sorted(set(AIRFLOW_SERVICES) - {"airflow-init"}))
    def test_airflow_services_wait_for_the_migrated_database(self, service):
        depends_on = SERVICES[service]["depends_on"]
        assert depends_on["airflow-init"]["condition"] == "service_completed_successfully"
        assert depends_on["postgres"]["condition"] == "service_healthy"

    def test_init_migrates_and_fails_when_the_migration_fails(self):
        script = _command("airflow-init")
        assert "set -euo pipefail" in script
        assert "/entrypoint airflow db migrate" in script
        # The image entrypoint's own migration (_AIRFLOW_DB_MIGRATE) ignores failures.
        assert "_AIRFLOW_DB_MIGRATE" not in service_env(SERVICES["airflow-init"])


class TestAirflowOptions:
    @pytest.mark.parametrize("variable", AIRFLOW_VARIABLES)
    def test_variable_names_an_option_of_the_pinned_airflow(self, variable, configuration_description):
        from airflow.configuration import conf

        match = _OPTION_VARIABLE.fullmatch(variable)
        assert match, variable
        section, key = match["section"].lower(), match["key"].lower()
        assert section in configuration_description, section
        options = configuration_description[section]["options"]
        if key not in options:
            # AIRFLOW__S__K_CMD / _SECRET are read only for options Airflow marks sensitive.
            base, _, suffix = key.rpartition("_")
            assert suffix in ("cmd", "secret"), f"[{section}] {key} is not an option"
            assert base in options, f"[{section}] {base} is not an option"
            assert (section, base) in conf.sensitive_config_values, f"[{section}] {base} is not sensitive"

    @pytest.mark.parametrize("service", AIRFLOW_SERVICES)
    def test_option_is_not_set_twice(self, service):
        env = service_env(SERVICES[service])
        for variable in env:
            for suffix in ("_CMD", "_SECRET"):
                if variable.endswith(suffix):
                    assert variable.removesuffix(suffix) not in env, variable

    @pytest.mark.parametrize(
        ("option", "base"),
        [
            pytest.param("AIRFLOW__CORE__AUTH_MANAGER", "BaseAuthManager", id="auth-manager"),
            pytest.param("AIRFLOW__CORE__EXECUTOR", "BaseExecutor", id="executor"),
        ],
    )
    def test_configured_class_imports(self, option, base):
        from airflow.api_fastapi.auth.managers.base_auth_manager import BaseAuthManager
        from airflow.executors.base_executor import BaseExecutor
        from airflow.executors.executor_loader import ExecutorLoader

        value = service_env(SERVICES["airflow-scheduler"])[option]
        # Core executors are named by their short name (CeleryExecutor lives in the Celery provider).
        module, _, name = ExecutorLoader.executors.get(value, value).rpartition(".")
        cls = getattr(importlib.import_module(module), name)
        assert issubclass(cls, {"BaseAuthManager": BaseAuthManager, "BaseExecutor": BaseExecutor}[base])

    @pytest.mark.parametrize("service", AIRFLOW_SERVICES)
    def test_airflow_services_share_one_configuration(self, service):
        common = service_env(SERVICES["airflow-scheduler"])
        env = service_env(SERVICES[service])
        # The same JWT secret everywhere, or workers fail with "Invalid auth token".
        assert env["AIRFLOW__API_AUTH__JWT_SECRET_CMD"] == common["AIRFLOW__API_AUTH__JWT_SECRET_CMD"]
        assert {k: v for k, v in env.items() if k in common} == common
        assert _mounts(service)[SECRETS_MOUNT] == "airflow-secrets"

    def test_store_connection_is_its_own_postgres_database(self):
        from airflow.models.connection import Connection

        from xops_provider.store.database import url_from_connection

        uri = service_env(SERVICES["airflow-worker"])["AIRFLOW_CONN_XOPS_STORE"]
        conn = Connection(conn_id="xops_store", uri=uri)
        url = url_from_connection(
            conn_type=conn.conn_type,
            host=conn.host,
            port=conn.port,
            login=conn.login,
            password=conn.password,
            schema=conn.schema,
            extra=conn.extra,
        )
        metadata_db = service_env(SERVICES["airflow-worker"])["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        assert (url.get_backend_name(), url.host, url.database) == ("postgresql", "postgres", "xops")
        assert not metadata_db.endswith("/xops")
        init_sql = (REPO / "docker" / "postgres-init.sql").read_text()
        assert re.search(r"CREATE DATABASE xops\b", init_sql)
        assert _mounts("postgres")["/docker-entrypoint-initdb.d/10-xops.sql"] == "./docker/postgres-init.sql"


class TestAuthManager:
    """The users the auth manager knows are the ones airflow-init sets up."""

    def test_simple_auth_manager_users_get_their_passwords_from_init(self):
        env = service_env(SERVICES["airflow-apiserver"])
        assert env["AIRFLOW__CORE__AUTH_MANAGER"] == SIMPLE_AUTH_MANAGER
        users = env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"]
        assert users == "airflow:admin"
        passwords = env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
        assert passwords.startswith(f"{SECRETS_MOUNT}/")
        init = _command("airflow-init")
        assert _argument(init.split("init-secrets", 1)[1], "--dir") == SECRETS_MOUNT
        assert "AIRFLOW_ADMIN_PASSWORD" in service_env(SERVICES["airflow-init"])
        # The password reaches only airflow-init.
        for service in set(AIRFLOW_SERVICES) - {"airflow-init"}:
            assert "AIRFLOW_ADMIN_PASSWORD" not in service_env(SERVICES[service]), service

    @pytest.mark.parametrize("service", AIRFLOW_SERVICES)
    def test_no_fab_user_creation_without_the_fab_auth_manager(self, service):
        env = service_env(SERVICES[service])
        if env["AIRFLOW__CORE__AUTH_MANAGER"] != FAB_AUTH_MANAGER:
            # The image entrypoint would run `airflow users create`, a FAB command.
            assert not any(key.startswith("_AIRFLOW_WWW_USER") for key in env)

    def test_init_hands_the_secrets_volume_to_the_airflow_user(self):
        init = _command("airflow-init")
        assert SERVICES["airflow-init"]["user"] == "0:0"
        assert re.search(rf'chown -R "50000:0" [^\n]*{SECRETS_MOUNT}', init)
        assert _mounts("airflow-init")[SECRETS_MOUNT] == "airflow-secrets"


class TestDemoProfile:
    def test_simulator_serves_on_the_compose_network_with_a_certificate_for_its_name(self):
        script = _command("xops-simulator")
        serve = script.split("simulator serve", 1)[1]
        tls = script.split("simulator-tls", 1)[1]
        assert _argument(serve, "--host") == "0.0.0.0"
        assert _argument(tls, "--hostname") == "xops-simulator"
        assert _argument(tls, "--state-dir") == _argument(serve, "--state-dir")
        assert _argument(serve, "--scenario") == "company-xyz"

    def test_demo_connection_points_at_the_simulator(self):
        serve = _command("xops-simulator").split("simulator serve", 1)[1]
        tenant = _command("xops-demo-tenant")
        assert _argument(tenant, "--conn-id") == "ms_tenant_default"
        assert _argument(tenant, "--base-url") == f"https://xops-simulator:{_argument(serve, '--port')}"
        assert _argument(tenant, "--state-dir") == _argument(serve, "--state-dir")
        assert SERVICES["xops-demo-tenant"]["depends_on"]["xops-simulator"]["condition"] == "service_healthy"

    def test_simulator_healthcheck_verifies_its_certificate(self):
        test = SERVICES["xops-simulator"]["healthcheck"]["test"]
        state_dir = _argument(_command("xops-simulator").split("simulator serve", 1)[1], "--state-dir")
        assert test[test.index("--cacert") + 1] == f"{state_dir}/ca.pem"
        assert test[-1].startswith("https://xops-simulator:8443/")

    @pytest.mark.parametrize("service", ["airflow-worker", "airflow-triggerer", "airflow-apiserver"])
    def test_services_calling_the_tenant_see_the_simulator_ca(self, service):
        # The connection's verify is the CA's path, read where tasks and triggers run.
        assert _mounts(service)["/opt/xops-simulator"] == "xops-simulator"
        assert _mounts("xops-simulator")["/opt/xops-simulator"] == "xops-simulator"

    @pytest.mark.parametrize("service", sorted(SERVICES))
    def test_no_environment_connection_shadows_the_demo_one(self, service):
        # A connection in the environment wins over the one the demo writes to the metadata DB.
        assert "AIRFLOW_CONN_MS_TENANT_DEFAULT" not in service_env(SERVICES[service])


class TestImage:
    def test_built_from_airflow_3_3_2_with_the_provider(self):
        dockerfile = (REPO / "Dockerfile").read_text()
        (base,) = re.findall(r"^FROM (\S+)", dockerfile, flags=re.MULTILINE)
        assert base.startswith("apache/airflow:3.3.2")
        assert re.search(r'pip install [^\n]*"apache-airflow==3\.3\.2" /opt/xops-provider', dockerfile)

    @pytest.mark.parametrize("pattern", [".env", ".git", ".venv", "tests"])
    def test_dockerignore_keeps_out(self, pattern):
        assert pattern in _dockerignore()

    @pytest.mark.parametrize(
        "path",
        sorted({m for name in SERVICES for m in re.findall(r"/opt/xops-provider/(\S+)", _command(name))}),
    )
    def test_scripts_the_services_run_are_in_the_image(self, path):
        assert (REPO / path).is_file()
        assert not any(path.startswith(pattern.rstrip("/")) for pattern in _dockerignore())
