"""Workbench fixtures: a story store seeded the way the pipeline fills it, and Airflow's auth.

The store holds the stories the real pipeline makes from the simulator's Company XYZ scenario (ingest
over HTTPS to the simulator, then the Generic Incident producer), plus one incident whose every
attacker-controlled field is a script injection.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.faults.helpers import synced
from tests.stories.campaign import message_evidence, url_evidence
from xops_provider.clients import identity
from xops_provider.simulator.process import SimulatorProcess
from xops_provider.simulator.scenarios import company_xyz as xyz
from xops_provider.store import Store
from xops_provider.store.reads import StoryReads
from xops_provider.stories.produce import produce

#: Runs script if anything renders it as HTML; each payload sets its own marker.
HOSTILE_TITLE = '<script>window.__xss="title"</script><img src=x onerror="window.__xss=\'img\'">'
HOSTILE_SUBJECT = "<svg onload=\"window.__xss='subject'\">Quarterly bonus</svg>"
HOSTILE_URL = 'https://evil.example/a?b="><script>window.__xss="url"</script>'
JAVASCRIPT_URL = "javascript:window.__xss='href'"
HOSTILE_RECIPIENT = "victim@companyxyz.com"


@dataclass(frozen=True)
class SeededStore:
    """The seeded store and what it holds.

    :param url: its SQLAlchemy URL (a SQLite file).
    :param tenant_id: the simulated tenant.
    :param hostile_incident_id: the incident whose fields are script injections.
    """

    url: str
    tenant_id: str
    hostile_incident_id: str

    def story_id(self, incident_id: str) -> str:
        return f"mdo:{self.tenant_id}:{incident_id}"


def _add_hostile_incident(simulator: SimulatorProcess) -> str:
    created = simulator.admin.create_incident(displayName=HOSTILE_TITLE, severity="high")
    received = created["createdDateTime"]
    simulator.admin.add_alert(
        created["id"],
        title=HOSTILE_TITLE,
        evidence=[
            message_evidence(
                HOSTILE_RECIPIENT,
                network_message_id="0badc0de-0000-4000-8000-000000000001",
                subject=HOSTILE_SUBJECT,
                received=received,
                urls=[HOSTILE_URL, JAVASCRIPT_URL],
            ),
            url_evidence(HOSTILE_URL, created=received),
            url_evidence(JAVASCRIPT_URL, created=received),
        ],
    )
    return created["id"]


@pytest.fixture(scope="session")
def seeded_store(
    simulator_process: SimulatorProcess, tmp_path_factory: pytest.TempPathFactory
) -> SeededStore:
    """A SQLite store with the Company XYZ stories and the hostile one, made by the real pipeline."""
    simulator_process.admin.reset(scenario="company-xyz", seed=7, incidents=None, faults="")
    identity._shared_providers.clear()  # the reset forgot every token the simulator issued
    hostile = _add_hostile_incident(simulator_process)
    url = f"sqlite:///{tmp_path_factory.mktemp('workbench') / 'stories.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW_CONN_MS_TENANT_DEFAULT", simulator_process.connection_json)
        report = synced(url)
    assert report.versions_stored > 0
    seeded = SeededStore(url=url, tenant_id=simulator_process.tenant_id, hostile_incident_id=hostile)
    with Store.open(url) as store:
        produce(store.stories, integration="default", batch_size=50)
        _correlate_campaign(store, seeded)
    return seeded


#: The campaign the two Company XYZ waves form, as correlation will record it.
CAMPAIGN_ID = "campaign:payroll-docs-review.com"
CLICK_ANSWER = "Yes: bob.nguyen@companyxyz.com clicked through to payroll-docs-review.com."


def _correlate_campaign(store: Store, seeded: SeededStore) -> None:
    """Give the two waves the ``correlation`` object the correlation step writes (story.schema.json),
    so that the pages show answers, findings, related stories and a campaign before it lands."""
    main, wave2 = seeded.story_id(xyz.MAIN_INCIDENT_ID), seeded.story_id(xyz.WAVE2_INCIDENT_ID)
    shared = [
        {"type": "sender", "value": xyz.CAMPAIGN_SENDER},
        {"type": "domain", "value": xyz.CAMPAIGN_DOMAIN},
    ]
    documents = []
    for story_id, other in ((main, wave2), (wave2, main)):
        document = store.reads.get_story(story_id)
        correlation = document["correlation"]
        correlation.update(
            campaign_id=CAMPAIGN_ID,
            related_stories=[{"story_id": other, "shared": shared}],
            affected_users=sorted({*xyz.WAVE1_RECIPIENTS, *xyz.WAVE2_RECIPIENTS}),
        )
        if story_id == main:
            correlation["clicks"] = [
                {
                    "user": xyz.CLICKER,
                    "url": xyz.CAMPAIGN_URL,
                    "time": document["first_signal"],
                    "action": "ClickAllowed",
                    "source": "Defender hunting (UrlClickEvents)",
                }
            ]
            correlation["answers"] = {**correlation["answers"], "clicked": CLICK_ANSWER}
        document["campaign_id"] = CAMPAIGN_ID
        documents.append(document)
    store.stories.save_stories(integration="default", stories=documents, produced_version_ids=[])


@pytest.fixture(scope="session")
def seeded_reads(seeded_store: SeededStore) -> Iterator[StoryReads]:
    reads = StoryReads.open(seeded_store.url)
    yield reads
    reads.close()


@pytest.fixture(scope="session")
def auth_manager(airflow_cli):
    """Airflow's configured auth manager; tokens are checked against the migrated metadata DB."""
    from airflow.api_fastapi.app import create_auth_manager

    manager = create_auth_manager()
    manager.init()
    return manager


@pytest.fixture(scope="session")
def tokens(auth_manager) -> dict[str, str]:
    """A JWT per SimpleAuthManager role the tests use."""
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    return {
        role: auth_manager.generate_jwt(SimpleAuthManagerUser(username=f"{role}-user", role=role))
        for role in ("viewer", "user", "op", "admin")
    }


ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
