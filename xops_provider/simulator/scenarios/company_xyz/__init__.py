"""Scenario ``company-xyz``: the Company XYZ phishing campaign.

One phishing mail reaches four people; Defender removes it after delivery (one incident, one
``analyzedMessageEvidence`` per recipient and a ``mailClusterEvidence``). Bob clicked: that click
alert opened its own incident, later merged (redirected) into the first. Bob's laptop then raised a
Defender for Endpoint alert (a non-MDO incident, for context). A day later a second wave from the
same sender hits three people, one of whom reports it.

What correlation reads is there too (:mod:`.telemetry`): the hunting rows of every
message, Bob's click-through and Carol's blocked click, the ZAP actions, Bob's traffic to the
campaign's domain in Cato's feed and in ``DeviceNetworkEvents``, and noise that must not join. The
facts a test asserts against are in :data:`COMPANY_XYZ_CORRELATION_TRUTH`; the ids in it do not
depend on the seed.
"""

from __future__ import annotations

from xops_provider.simulator.scenarios.company_xyz.facts import (
    ALICE,
    BLOCKED_CLICKER,
    BOB,
    CAMPAIGN_DOMAIN,
    CAMPAIGN_SENDER,
    CAMPAIGN_SENDER_IP,
    CAMPAIGN_SENDER_NAME,
    CAMPAIGN_SUBJECT,
    CAMPAIGN_URL,
    CAROL,
    CLICK_INCIDENT_ID,
    CLICKER,
    CLICKER_IP,
    COMPANY_DOMAIN,
    COMPANY_XYZ_CORRELATION_TRUTH,
    DAVID,
    ENDPOINT_ALERT_ID,
    ENDPOINT_DEVICE,
    ENDPOINT_DEVICE_DNS_NAME,
    ENDPOINT_DEVICE_ID,
    ENDPOINT_INCIDENT_ID,
    ERIN,
    FRANK,
    HOURS,
    INCIDENT_IDS,
    LOOKALIKE_DOMAIN,
    LOOKALIKE_VISITOR,
    MAIN_INCIDENT_ID,
    NOISE_DOMAIN,
    NOISE_USER,
    REPORTER,
    STALE_VISITOR,
    USERS,
    WAVE1_MESSAGE_IDS,
    WAVE1_RECIPIENTS,
    WAVE2_INCIDENT_ID,
    WAVE2_MESSAGE_IDS,
    WAVE2_RECIPIENTS,
    WAVE2_SENDER_IP,
    WAVE2_SUBJECT,
    WAVE2_URL,
    moment,
)
from xops_provider.simulator.scenarios.company_xyz.incidents import build

__all__ = [
    "ALICE",
    "BLOCKED_CLICKER",
    "BOB",
    "CAMPAIGN_DOMAIN",
    "CAMPAIGN_SENDER",
    "CAMPAIGN_SENDER_IP",
    "CAMPAIGN_SENDER_NAME",
    "CAMPAIGN_SUBJECT",
    "CAMPAIGN_URL",
    "CAROL",
    "CLICKER",
    "CLICKER_IP",
    "CLICK_INCIDENT_ID",
    "COMPANY_DOMAIN",
    "COMPANY_XYZ_CORRELATION_TRUTH",
    "DAVID",
    "ENDPOINT_ALERT_ID",
    "ENDPOINT_DEVICE",
    "ENDPOINT_DEVICE_DNS_NAME",
    "ENDPOINT_DEVICE_ID",
    "ENDPOINT_INCIDENT_ID",
    "ERIN",
    "FRANK",
    "HOURS",
    "INCIDENT_IDS",
    "LOOKALIKE_DOMAIN",
    "LOOKALIKE_VISITOR",
    "MAIN_INCIDENT_ID",
    "NOISE_DOMAIN",
    "NOISE_USER",
    "REPORTER",
    "STALE_VISITOR",
    "USERS",
    "WAVE1_MESSAGE_IDS",
    "WAVE1_RECIPIENTS",
    "WAVE2_INCIDENT_ID",
    "WAVE2_MESSAGE_IDS",
    "WAVE2_RECIPIENTS",
    "WAVE2_SENDER_IP",
    "WAVE2_SUBJECT",
    "WAVE2_URL",
    "build",
    "moment",
]
