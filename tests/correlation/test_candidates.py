"""FactIndex finds exactly what match_story finds over all the run's facts."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.correlation.builders import cato, click, detection, device_event, post_delivery
from tests.correlation.test_pipeline import DAY, run_facts
from xops_provider.correlation import FactSet, story_keys
from xops_provider.correlation.candidates import FactIndex
from xops_provider.correlation.matching import match_story

USERS = ("bob@xyz.example", "alice@xyz.example", "zed@other.example", "gina@xyz.example")
DOMAINS = (
    "c0ntoso-secure.example",
    "login.c0ntoso-secure.example",
    "wikipedia.org",
    "c0nt0so-secure.example",
)


def _facts(data: st.DataObject) -> list:
    extra = []
    for n in range(data.draw(st.integers(0, 12))):
        minute = data.draw(st.sampled_from([5, 14, 30, DAY + 20, 3 * DAY]))
        user = data.draw(st.sampled_from(USERS))
        kind = data.draw(st.sampled_from(["click", "cato", "device", "detection", "post"]))
        if kind == "click":
            extra.append(click(minute=minute, user=user, report=f"x{n}"))
        elif kind == "cato":
            extra.append(
                cato(minute=minute, user=user, domain=data.draw(st.sampled_from(DOMAINS)), event_id=f"x{n}")
            )
        elif kind == "device":
            extra.append(device_event(minute=minute))
        elif kind == "detection":
            extra.append(detection(minute=minute))
        else:
            extra.append(post_delivery(minute=minute, recipient=user))
    return run_facts() + extra


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_index_matches_like_the_full_scan(campaign_stories: dict, data: st.DataObject) -> None:
    facts = FactSet.of(_facts(data))
    index = FactIndex(facts)
    for story in json.loads(json.dumps(campaign_stories)).values():
        keys = story_keys(story, emails=facts.emails, email_urls=facts.email_urls)
        full = match_story(
            keys,
            clicks=facts.clicks,
            post_delivery=facts.post_delivery,
            network=facts.network,
            detections=facts.detections,
        )
        assert index.match(keys) == full
