"""Enumerations of ``microsoft.graph.security.incident``, in the order Graph's metadata declares
them (OData compares enum values by that order)."""

from __future__ import annotations

INCIDENT_STATUS = ("active", "resolved", "inProgress", "redirected", "unknownFutureValue", "awaitingAction")
#: Members declared after ``unknownFutureValue``: hidden unless ``Prefer: include-unknown-enum-members``.
EVOLVABLE_STATUS = frozenset(INCIDENT_STATUS[INCIDENT_STATUS.index("unknownFutureValue") + 1 :])
SEVERITY = ("unknown", "informational", "low", "medium", "high", "unknownFutureValue")
CLASSIFICATION = (
    "unknown",
    "falsePositive",
    "truePositive",
    "informationalExpectedActivity",
    "unknownFutureValue",
)
DETERMINATION = (
    "unknown",
    "apt",
    "malware",
    "securityPersonnel",
    "securityTesting",
    "unwantedSoftware",
    "other",
    "multiStagedAttack",
    "compromisedAccount",
    "phishing",
    "maliciousUserActivity",
    "notMalicious",
    "notEnoughDataToValidate",
    "confirmedActivity",
    "lineOfBusinessApplication",
    "unknownFutureValue",
)
#: What ``PATCH /security/incidents/{id}`` may change.
PATCHABLE = ("status", "assignedTo", "classification", "determination", "customTags", "resolvingComment")

# ``microsoft.graph.security.alert`` (alerts_v2).
ALERT_STATUS = ("unknown", "new", "inProgress", "resolved", "unknownFutureValue")
SERVICE_SOURCE = (
    "unknown",
    "microsoftDefenderForEndpoint",
    "microsoftDefenderForIdentity",
    "microsoftDefenderForCloudApps",
    "microsoftDefenderForOffice365",
    "microsoft365Defender",
    "azureAdIdentityProtection",
    "microsoftAppGovernance",
    "dataLossPrevention",
    "unknownFutureValue",
    "microsoftDefenderForCloud",
    "microsoftSentinel",
    "microsoftInsiderRiskManagement",
)
