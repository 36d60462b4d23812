"""The Company XYZ campaign's facts: who, what, when, and the correlation truth.

Times are hours after the first delivery (:data:`HOURS`); the scenario starts 60 hours before it is
loaded, and :func:`moment` turns an hour into the Graph time the scenario writes for it.
"""

from __future__ import annotations

import hashlib
from typing import Any

from xops_provider.models.timestamps import TICKS_PER_SECOND, GraphTime
from xops_provider.simulator.scenarios import builders as b

COMPANY_DOMAIN = "companyxyz.com"
ALICE = f"alice.martin@{COMPANY_DOMAIN}"
BOB = f"bob.nguyen@{COMPANY_DOMAIN}"
CAROL = f"carol.schmidt@{COMPANY_DOMAIN}"
DAVID = f"david.okafor@{COMPANY_DOMAIN}"
ERIN = f"erin.kowalski@{COMPANY_DOMAIN}"
FRANK = f"frank.dubois@{COMPANY_DOMAIN}"
USERS: dict[str, str] = {
    ALICE: "Alice Martin",
    BOB: "Bob Nguyen",
    CAROL: "Carol Schmidt",
    DAVID: "David Okafor",
    ERIN: "Erin Kowalski",
    FRANK: "Frank Dubois",
}

CAMPAIGN_DOMAIN = "payroll-docs-review.com"
CAMPAIGN_SENDER = f"hr-notifications@{CAMPAIGN_DOMAIN}"
# Attacker-controlled text carries markup on purpose: every renderer must escape it.
CAMPAIGN_SENDER_NAME = "HR & Payroll <no-reply>"
CAMPAIGN_SENDER_IP = "203.0.113.45"
CAMPAIGN_SUBJECT = "Action required: review & sign your updated payroll details"
CAMPAIGN_URL = f"https://{CAMPAIGN_DOMAIN}/auth/login?session=7f3a9c&next=%2Fpayroll"
WAVE1_RECIPIENTS = (ALICE, BOB, CAROL, DAVID)

WAVE2_SUBJECT = "Reminder: payroll details pending <b>today</b>"
WAVE2_URL = f"https://{CAMPAIGN_DOMAIN}/secure/verify?id=99c1e0"
WAVE2_SENDER_IP = "203.0.113.46"
WAVE2_RECIPIENTS = (ERIN, FRANK, ALICE)
REPORTER = ERIN

CLICKER = BOB
CLICKER_IP = "198.51.100.23"
ENDPOINT_DEVICE = "BOB-LT-0142"

#: ``networkMessageId`` of each copy, fixed whatever the seed (the join key to the hunting tables).
WAVE1_MESSAGE_IDS: dict[str, str] = {
    ALICE: "4b1f6c2e-8a3d-4e5f-9b70-2c1d3e4f5a61",
    BOB: "7d2e9f10-3b4c-4a5d-8e6f-0a1b2c3d4e52",
    CAROL: "a3c4d5e6-f708-4192-a3b4-c5d6e7f80913",
    DAVID: "e5f60718-293a-4b4c-8d6e-7f8091a2b3c4",
}
WAVE2_MESSAGE_IDS: dict[str, str] = {
    ERIN: "0c1d2e3f-4a5b-4c6d-9e7f-8a9b0c1d2e35",
    FRANK: "1d2e3f4a-5b6c-4d7e-8f90-a1b2c3d4e5f6",
    ALICE: "2e3f4a5b-6c7d-4e8f-a091-b2c3d4e5f607",
}
#: The Defender for Endpoint alert on Bob's laptop, and the laptop's Defender device id.
ENDPOINT_ALERT_ID = "da638712345678901234_-1204567890"
ENDPOINT_DEVICE_ID = "f3a1c9e27b5d4086a2e1c7b9d3f5a8e0c4b6d2f1"
ENDPOINT_DEVICE_DNS_NAME = f"{ENDPOINT_DEVICE.lower()}.{COMPANY_DOMAIN}"

#: Carol clicked too, after detonation had turned the URL malicious: Safe Links blocked her.
BLOCKED_CLICKER = CAROL
BLOCKED_CLICKER_IP = "198.51.100.61"
#: Noise that must not join: a user outside the campaign browsing an unrelated site, Alice on the
#: campaign's domain 40 hours before any mail, and Frank on a near-spelling of it.
NOISE_USER = f"henry.wright@{COMPANY_DOMAIN}"
NOISE_DOMAIN = "www.wikipedia.org"
STALE_VISITOR = ALICE
LOOKALIKE_DOMAIN = "payroll-docs-reveiw.com"
LOOKALIKE_VISITOR = FRANK

MAIN_INCIDENT_ID = "30411"
CLICK_INCIDENT_ID = "30412"
ENDPOINT_INCIDENT_ID = "30413"
WAVE2_INCIDENT_ID = "30420"
#: Every incident id in the scenario, in creation order.
INCIDENT_IDS = (MAIN_INCIDENT_ID, CLICK_INCIDENT_ID, ENDPOINT_INCIDENT_ID, WAVE2_INCIDENT_ID)

#: When things happen, in hours after the first delivery (the scenario starts 60 hours before it
#: is loaded). Network events carry these times give or take a few seconds.
HOURS: dict[str, float] = {
    "wave1_delivered": 0.0,
    "bob_click": 0.5,
    "bob_reaches_domain": 0.501,
    "carol_click_blocked": 0.57,
    "wave1_zap": 0.62,
    "noise_user_browses": 0.7,
    "bob_downloads_script": 0.8,
    "endpoint_alert_created": 0.84,
    "stale_visit": -40.0,
    "wave2_delivered": 30.0,
    "wave2_zap": 30.5,
    "lookalike_visit": 31.0,
}
_HOUR = 3600.0
_START_HOURS_BEFORE_NOW = 60

#: What correlation must find in the hunting tables, the Cato feed and alerts_v2, and what it must
#: not. "Reached the domain" means a connection to :data:`CAMPAIGN_DOMAIN` within 24 hours after
#: the user's copy was delivered; times are :data:`HOURS` after the first delivery.
COMPANY_XYZ_CORRELATION_TRUTH: dict[str, Any] = {
    "campaign_domain": CAMPAIGN_DOMAIN,
    "campaign_urls": (CAMPAIGN_URL, WAVE2_URL),
    "message_ids": {"wave1": dict(WAVE1_MESSAGE_IDS), "wave2": dict(WAVE2_MESSAGE_IDS)},
    "zapped_message_ids": (*WAVE1_MESSAGE_IDS.values(), *WAVE2_MESSAGE_IDS.values()),
    "clicked_through": (CLICKER,),
    "click_blocked": (BLOCKED_CLICKER,),
    "clicks": (
        {
            "upn": CLICKER,
            "action": "ClickAllowed",
            "is_clicked_through": True,
            "network_message_id": WAVE1_MESSAGE_IDS[CLICKER],
            "url": CAMPAIGN_URL,
            "ip": CLICKER_IP,
            "hours": HOURS["bob_click"],
        },
        {
            "upn": BLOCKED_CLICKER,
            "action": "ClickBlocked",
            "is_clicked_through": False,
            "network_message_id": WAVE1_MESSAGE_IDS[BLOCKED_CLICKER],
            "url": CAMPAIGN_URL,
            "ip": BLOCKED_CLICKER_IP,
            "hours": HOURS["carol_click_blocked"],
        },
    ),
    "never_clicked": (ALICE, DAVID, ERIN, FRANK),
    "reached_domain_via_cato": (CLICKER,),
    "reached_domain_via_device": (CLICKER,),
    # Bob's connections to the campaign's domain in each source (the login page, then the script).
    "domain_events": {"cato": 2, "device": 2},
    "endpoint_alert_id": ENDPOINT_ALERT_ID,
    "endpoint_device": {
        "id": ENDPOINT_DEVICE_ID,
        "name": ENDPOINT_DEVICE,
        "dns_name": ENDPOINT_DEVICE_DNS_NAME,
        "user": CLICKER,
        "ip": CLICKER_IP,
    },
    "must_not_join": {
        "unrelated_user": NOISE_USER,
        "unrelated_domain": NOISE_DOMAIN,
        "stale_visitor": STALE_VISITOR,
        "stale_visit_hours": HOURS["stale_visit"],
        "lookalike_domain": LOOKALIKE_DOMAIN,
        "lookalike_visitor": LOOKALIKE_VISITOR,
        "silent_recipient": DAVID,
    },
    "hours": dict(HOURS),
}


def moment(now: GraphTime, hours: float, *, digits: int = 7) -> str:
    """The scenario's time ``hours`` after its start, as Graph writes it.

    :param now: the reference time the scenario was loaded at.
    :param hours: hours after the first delivery (negative: before).
    :param digits: fractional digits.
    """
    start = now.shift(seconds=-_START_HOURS_BEFORE_NOW * _HOUR)
    # Sub-second parts as varied as real ones, but the same for the same moment of the story.
    jitter = int(hashlib.sha256(f"{hours}".encode()).hexdigest()[:8], 16) % TICKS_PER_SECOND
    ticks = b.coarsen(start.shift(seconds=hours * _HOUR).ticks + jitter, digits)
    return b.graph_time(ticks, digits=digits)
