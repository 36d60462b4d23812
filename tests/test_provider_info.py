"""Provider discovery: the provider info, the connection form Airflow draws, ``airflow providers list``."""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from xops_provider.get_provider_info import get_provider_info
from xops_provider.hooks.cato import CatoEventsHook
from xops_provider.hooks.ms_tenant import MsTenantHook

AIRFLOW = str(Path(sys.executable).with_name("airflow"))
REPO = Path(__file__).resolve().parents[1]
#: The start of a read of an ``[xops]`` option: ``conf.get*("xops", ...)``.
_XOPS_READ = re.compile(r"""\bconf\.\w+\(\s*["']xops["']""")
#: The same with a literal option name, the only form the declaration test can follow.
_XOPS_OPTION_READ = re.compile(r"""\bconf\.\w+\(\s*["']xops["']\s*,\s*["'](\w+)["']""")
XOPS_OPTIONS = sorted(get_provider_info()["config"]["xops"]["options"])
OPTIONAL_FIELDS = [
    "cloud",
    "authority_host",
    "graph_endpoint",
    "verify",
    "certificate_path",
    "certificate_thumbprint",
    "use_workload_identity",
]


@pytest.fixture(scope="module")
def provider_info() -> dict:
    return get_provider_info()


@pytest.fixture(scope="module")
def ms_tenant_meta():
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

    metas = {meta.connection_type: meta for meta in HookMetaService.hook_meta_data()}
    assert "ms_tenant" in metas, sorted(metas)
    return metas["ms_tenant"]


class TestProviderInfo:
    def test_validates_against_installed_schema(self, provider_info):
        import airflow

        schema_path = Path(airflow.__file__).parent / "provider_info.schema.json"
        jsonschema.validate(provider_info, json.loads(schema_path.read_text()))

    def test_package_name_is_the_canonical_distribution_name(self, provider_info):
        dist = importlib.metadata.distribution("xops-provider")
        assert provider_info["package-name"] == dist.metadata["Name"].lower().replace("_", "-")

    def test_entry_point_resolves_to_this_function(self):
        dist = importlib.metadata.distribution("xops-provider")
        (entry_point,) = [
            ep
            for ep in dist.entry_points
            if ep.group == "apache_airflow_provider" and ep.name == "provider_info"
        ]
        assert entry_point.load() is get_provider_info

    def test_connection_type_matches_the_hook(self, provider_info):
        (conn,) = [c for c in provider_info["connection-types"] if c["connection-type"] == "ms_tenant"]
        module_name, _, class_name = conn["hook-class-name"].rpartition(".")
        hook_class = getattr(importlib.import_module(module_name), class_name)
        assert hook_class is MsTenantHook
        assert hook_class.conn_type == "ms_tenant"
        assert hook_class.conn_name_attr == "ms_tenant_conn_id"
        assert hook_class.default_conn_name == "ms_tenant_default"
        assert conn["hook-name"] == hook_class.hook_name

    def test_every_module_section_names_a_declared_integration(self, provider_info):
        integrations = {item["integration-name"] for item in provider_info["integrations"]}
        for section in ("hooks", "sensors", "triggers", "operators"):
            for item in provider_info[section]:
                assert item["integration-name"] in integrations, (section, item)
        modules = {
            m
            for section in ("hooks", "sensors", "triggers", "operators")
            for item in provider_info[section]
            for m in item["python-modules"]
        }
        assert {
            "xops_provider.hooks.ms_tenant",
            "xops_provider.hooks.defender",
            "xops_provider.hooks.store",
            "xops_provider.sensors.defender",
            "xops_provider.triggers.defender",
            "xops_provider.operators.stories",
            "xops_provider.operators.ingest",
        } <= modules

    def test_story_store_form_is_registered(self, provider_info):
        (conn,) = [c for c in provider_info["connection-types"] if c["connection-type"] == "xops_store"]
        assert conn["hook-class-name"] == "xops_provider.hooks.store.StoreHook"
        assert "null" in conn["conn-fields"]["backend"]["schema"]["type"]

    @pytest.mark.parametrize("field", OPTIONAL_FIELDS)
    def test_optional_fields_accept_null(self, provider_info, field):
        (conn,) = [c for c in provider_info["connection-types"] if c["connection-type"] == "ms_tenant"]
        assert "null" in conn["conn-fields"][field]["schema"]["type"]

    def test_cloud_offers_exactly_the_supported_clouds(self, provider_info):
        from xops_provider.clients.identity import CLOUDS

        (conn,) = [c for c in provider_info["connection-types"] if c["connection-type"] == "ms_tenant"]
        assert conn["conn-fields"]["cloud"]["schema"]["enum"] == list(CLOUDS)


def _xops_option_reads() -> dict[str, list[str]]:
    """Option name -> the files that read it, over the package and the DAGs."""
    reads: dict[str, list[str]] = {}
    for path in sorted([*REPO.joinpath("xops_provider").rglob("*.py"), *REPO.joinpath("dags").rglob("*.py")]):
        text = path.read_text()
        options = _XOPS_OPTION_READ.findall(text)
        # A read whose option is not a literal would escape the declaration check.
        assert len(options) == len(_XOPS_READ.findall(text)), f"{path}: [xops] read without a literal name"
        for option in options:
            reads.setdefault(option, []).append(str(path.relative_to(REPO)))
    return reads


@pytest.fixture(scope="module")
def xops_config_list(tmp_path_factory) -> str:
    """``airflow config list --section xops``: a fresh AIRFLOW_HOME, this checkout first on the path."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__XOPS__")},
        "AIRFLOW_HOME": str(tmp_path_factory.mktemp("airflow-home")),
        "PYTHONPATH": str(REPO),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR",
    }
    result = subprocess.run(
        [AIRFLOW, "config", "list", "--section", "xops", "--show-values", "--include-descriptions"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


class TestXopsConfig:
    """The ``[xops]`` options: declared in the provider info, shown by ``airflow config list``."""

    @pytest.mark.parametrize("option", XOPS_OPTIONS)
    def test_option_is_documented_with_a_typed_default(self, provider_info, option):
        spec = provider_info["config"]["xops"]["options"][option]
        assert spec["description"].strip()
        assert spec["version_added"]
        for value in (spec["default"], spec["example"]):
            # Strings, as airflow.cfg holds them, that parse as the declared type.
            assert isinstance(value, str)
            if spec["type"] == "boolean":
                assert value.lower() in ("true", "false")
            else:
                {"integer": int, "float": float, "string": str}[spec["type"]](value)

    @pytest.mark.parametrize("option", XOPS_OPTIONS)
    def test_airflow_config_list_shows_the_option_and_its_default(
        self, provider_info, xops_config_list, option
    ):
        default = provider_info["config"]["xops"]["options"][option]["default"]
        assert xops_config_list.lstrip().startswith("[xops]")
        assert re.search(rf"^{option} = {re.escape(default)}$", xops_config_list, flags=re.MULTILINE)

    def test_airflow_config_list_shows_the_section_description(self, provider_info, xops_config_list):
        first_line = provider_info["config"]["xops"]["description"].splitlines()[0]
        assert first_line in xops_config_list

    def test_code_reads_only_declared_options(self, provider_info):
        reads = _xops_option_reads()
        undeclared = {option: files for option, files in reads.items() if option not in XOPS_OPTIONS}
        assert not undeclared, f"[xops] options read but not declared in get_provider_info: {undeclared}"

    @pytest.mark.parametrize("option", XOPS_OPTIONS)
    def test_declared_option_is_read(self, option):
        assert option in _xops_option_reads(), f"[xops] {option} is declared but nothing reads it"

    def test_config_reads_the_declared_default(self, provider_info, monkeypatch):
        from airflow.configuration import conf

        for option in XOPS_OPTIONS:
            monkeypatch.delenv(f"AIRFLOW__XOPS__{option.upper()}", raising=False)
            assert conf.get("xops", option) == provider_info["config"]["xops"]["options"][option]["default"]


class TestConnectionForm:
    """What the Airflow 3.3 UI renders, through the service behind ``/ui/connections/hook_meta``."""

    def test_standard_fields_hidden_and_relabelled(self, ms_tenant_meta):
        fields = ms_tenant_meta.standard_fields
        assert fields.host.hidden
        assert fields.port.hidden
        assert fields.url_schema.hidden
        assert fields.login.title == "Client (application) ID"
        assert fields.password.title == "Client secret"
        assert fields.login.placeholder
        assert ms_tenant_meta.hook_name == MsTenantHook.hook_name

    def test_extra_fields_are_labelled(self, ms_tenant_meta):
        extra = ms_tenant_meta.extra_fields
        assert set(extra) == {"tenant_id", *OPTIONAL_FIELDS}
        for name, field in extra.items():
            assert field["schema"]["title"], name
            assert field["description"], name

    @pytest.mark.parametrize("field", OPTIONAL_FIELDS)
    def test_no_optional_field_is_required(self, ms_tenant_meta, field):
        # The UI marks a field required when "null" is not among its types.
        assert "null" in ms_tenant_meta.extra_fields[field]["schema"]["type"]

    def test_tenant_id_is_required(self, ms_tenant_meta):
        assert "null" not in ms_tenant_meta.extra_fields["tenant_id"]["schema"]["type"]

    def test_defaults(self, ms_tenant_meta):
        assert ms_tenant_meta.extra_fields["cloud"]["value"] == "public"
        assert ms_tenant_meta.extra_fields["use_workload_identity"]["value"] is False


class TestCatoConnection:
    """The ``cato`` connection type: declared like ``ms_tenant``, drawn by the UI."""

    @pytest.fixture(scope="class")
    def cato_meta(self):
        from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

        metas = {meta.connection_type: meta for meta in HookMetaService.hook_meta_data()}
        assert "cato" in metas, sorted(metas)
        return metas["cato"]

    def test_connection_type_matches_the_hook(self, provider_info):
        (conn,) = [c for c in provider_info["connection-types"] if c["connection-type"] == "cato"]
        module_name, _, class_name = conn["hook-class-name"].rpartition(".")
        assert getattr(importlib.import_module(module_name), class_name) is CatoEventsHook
        assert (CatoEventsHook.conn_type, CatoEventsHook.default_conn_name) == ("cato", "cato_default")
        assert conn["hook-name"] == CatoEventsHook.hook_name

    def test_modules_are_declared(self, provider_info):
        modules = {
            m
            for section in ("hooks", "operators")
            for i in provider_info[section]
            for m in i["python-modules"]
        }
        assert {"xops_provider.hooks.cato", "xops_provider.operators.network"} <= modules

    def test_form(self, cato_meta):
        fields = cato_meta.standard_fields
        assert fields.password.title == "API key"
        assert fields.login.title == "Account ID"
        assert fields.host.title == "API endpoint"
        assert fields.port.hidden
        assert set(cato_meta.extra_fields) == {"account_id", "endpoint", "verify"}
        for name, field in cato_meta.extra_fields.items():
            assert "null" in field["schema"]["type"], name
            assert field["description"], name

    def test_providers_manager_resolves_the_hook(self):
        from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

        hook_info = ProvidersManagerTaskRuntime().hooks["cato"]
        assert hook_info is not None
        assert hook_info.hook_class_name == "xops_provider.hooks.cato.CatoEventsHook"
        assert hook_info.connection_id_attribute_name == "cato_conn_id"


class TestAirflowProvidersList:
    def test_lists_the_provider(self):
        env = {**os.environ, "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR"}
        result = subprocess.run(
            [AIRFLOW, "providers", "list", "--output", "json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        start = result.stdout.index("[")
        providers = {p["package_name"]: p for p in json.loads(result.stdout[start:])}
        assert "xops-provider" in providers
        assert providers["xops-provider"]["version"] == importlib.metadata.version("xops-provider")

    def test_providers_manager_resolves_the_hook(self):
        from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

        # What Connection.get_hook() uses in a task to turn conn_type into a hook.
        hook_info = ProvidersManagerTaskRuntime().hooks["ms_tenant"]
        assert hook_info is not None
        assert hook_info.hook_class_name == "xops_provider.hooks.ms_tenant.MsTenantHook"
        assert hook_info.package_name == "xops-provider"
        assert hook_info.connection_id_attribute_name == "ms_tenant_conn_id"


class TestHookMetaRoute:
    def test_ui_route_renders_the_form(self, airflow_cli, monkeypatch):
        """``GET /ui/connections/hook_meta`` on the real API app (needs the migrated metadata DB)."""
        from fastapi.testclient import TestClient

        monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True")
        from airflow.api_fastapi.app import create_app

        with TestClient(create_app()) as client:
            response = client.get("/ui/connections/hook_meta")
        assert response.status_code == 200, response.text[:500]
        (meta,) = [item for item in response.json() if item["connection_type"] == "ms_tenant"]
        assert meta["hook_name"] == MsTenantHook.hook_name
        assert meta["standard_fields"]["login"]["title"] == "Client (application) ID"
        assert meta["standard_fields"]["password"]["title"] == "Client secret"
        assert meta["standard_fields"]["host"]["hidden"] is True
        for field in OPTIONAL_FIELDS:
            assert "null" in meta["extra_fields"][field]["schema"]["type"], field
