"""Lenient models of Graph security incidents, alerts and evidence.

Real payloads carry ``""`` where a value is missing, PascalCase enums from older pipelines, ``tags``
instead of ``customTags``, ``alerts`` as a lone object, and keys nobody has documented yet. These
models accept all of that, normalise what the product relies on, and keep every unknown key
(``extra="allow"``): nothing Microsoft sent is dropped. The raw dict is stored separately, as received.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from xops_provider.models.timestamps import GraphTime, InvalidTimestamp

MDO_SERVICE_SOURCE = "microsoftDefenderForOffice365"

_ENUMS: dict[str, tuple[str, ...]] = {
    "incident_status": (
        "active",
        "resolved",
        "inProgress",
        "redirected",
        "awaitingAction",
        "unknownFutureValue",
    ),
    "alert_status": ("unknown", "new", "inProgress", "resolved", "unknownFutureValue"),
    "severity": ("unknown", "informational", "low", "medium", "high", "unknownFutureValue"),
    "classification": (
        "unknown",
        "falsePositive",
        "truePositive",
        "informationalExpectedActivity",
        "unknownFutureValue",
    ),
    "verdict": ("unknown", "suspicious", "malicious", "noThreatsFound", "unknownFutureValue"),
    "service_source": (
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
    ),
}
_ENUM_LOOKUP = {name: {m.lower(): m for m in members} for name, members in _ENUMS.items()}


def blank_to_none(value: Any) -> Any:
    """Graph writes ``""`` (sometimes padded) where a value is missing."""
    if isinstance(value, str) and not value.strip():
        return None
    return value


def loose_str(value: Any) -> str | None:
    """An optional text field read leniently: blank is missing, a number is its text, and a wrongly
    typed value (object, array, boolean) is missing too. Such a field must not cost the whole incident:
    the raw payload keeps it exactly as received.
    """
    value = blank_to_none(value)
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


LooseStr = Annotated[str | None, BeforeValidator(loose_str)]


def normalize_enum(kind: str, value: Any) -> str | None:
    """Graph's camelCase member for a value in any case; unknown members are kept, trimmed.

    :param kind: which enumeration (a key of ``_ENUMS``).
    :param value: the value as received.
    """
    value = loose_str(value)
    if value is None:
        return None
    text = str(value).strip()
    return _ENUM_LOOKUP[kind].get(text.lower(), text)


def _parse_time(value: Any) -> GraphTime | None:
    value = blank_to_none(value)
    if value is None or isinstance(value, GraphTime):
        return value
    return GraphTime.parse(value)


def _as_list(value: Any) -> list[Any]:
    """A collection read leniently: a lone object or text becomes a one-item list, and anything else
    that is not a list is empty."""
    if isinstance(value, list):
        return value
    if isinstance(value, dict) or (isinstance(value, str) and value.strip()):
        return [value]
    return []


def _objects(value: Any) -> list[Any]:
    """A collection of objects (evidence, comments): items that are not objects are skipped."""
    return [item for item in _as_list(value) if isinstance(item, dict)]


def _alert_objects(value: Any) -> list[Any]:
    """Alerts are what a story is made of: one that is not an object makes the record malformed."""
    if value is None or value == "":
        return []
    items = [value] if isinstance(value, dict) else value
    if not isinstance(items, list):
        raise ValueError(f"alerts must be a list of objects, got {type(value).__name__}")
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise ValueError(f"alert {index} is not an object (got {type(item).__name__})")
    return items


def _texts(value: Any) -> list[str]:
    """A collection of strings (roles, tags, techniques): blanks and non-text items are skipped."""
    return [text for item in _as_list(value) if (text := loose_str(item)) is not None]


def evidence_kind(odata_type: Any) -> str:
    """The short evidence type: ``#microsoft.graph.security.urlEvidence`` -> ``urlEvidence``.

    Matching is case-insensitive, with or without the leading ``#``; an unrecognised type keeps its
    own last segment, and a missing one is ``unknown``.

    :param odata_type: the ``@odata.type`` as received.
    """
    text = blank_to_none(odata_type)
    if not isinstance(text, str):
        return "unknown"
    short = text.strip().lstrip("#").rsplit(".", 1)[-1]
    return _KNOWN_EVIDENCE.get(short.lower(), short)


_KNOWN_EVIDENCE = {
    name.lower(): name
    for name in (
        "analyzedMessageEvidence",
        "mailboxEvidence",
        "mailClusterEvidence",
        "urlEvidence",
        "userEvidence",
        "ipEvidence",
        "fileEvidence",
        "deviceEvidence",
        "processEvidence",
        "cloudApplicationEvidence",
        "submissionMailEvidence",
        "teamsMessageEvidence",
        "registryKeyEvidence",
        "registryValueEvidence",
        "oauthApplicationEvidence",
        "securityGroupEvidence",
        "mailboxConfigurationEvidence",
        "blobEvidence",
        "amazonResourceEvidence",
        "azureResourceEvidence",
        "googleCloudResourceEvidence",
        "hostLogonSessionEvidence",
        "kubernetesPodEvidence",
        "dnsEvidence",
    )
}


#: The longest incident id accepted: ids are keys and index entries in every store.
ID_MAX_LENGTH = 200


def incident_identifier(value: Any, *, name: str = "an incident id") -> str | None:
    """An incident id read strictly, for it is an identity: text or a number, printable, not too long.

    One that no database could store as a key would otherwise stop every later batch.

    :param value: the value as received.
    :param name: how to name the field in the error.
    """
    value = blank_to_none(value)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"{name} must be a string or an integer, got {type(value).__name__}")
    text = str(value).strip()
    if len(text) > ID_MAX_LENGTH or not text.isprintable():
        raise ValueError(f"{name} is longer than {ID_MAX_LENGTH} characters or holds control characters")
    return text


def _lenient_time(value: Any) -> GraphTime | None:
    """An optional timestamp: an unreadable one reads as missing, it must not cost the incident."""
    try:
        return _parse_time(value)
    except InvalidTimestamp:
        return None


def _trimmed(value: Any) -> str | None:
    value = loose_str(value)
    return None if value is None else value.strip()


def _enum(kind: str) -> BeforeValidator:
    return BeforeValidator(lambda value: normalize_enum(kind, value))


# Field types: each reading rule is written once and named by what it reads.
OptionalTime = Annotated[GraphTime | None, BeforeValidator(_lenient_time)]
TrimmedStr = Annotated[str | None, BeforeValidator(_trimmed)]
Texts = Annotated[list[str], BeforeValidator(_texts)]
IncidentStatus = Annotated[str | None, _enum("incident_status")]
AlertStatus = Annotated[str | None, _enum("alert_status")]
Severity = Annotated[str | None, _enum("severity")]
Classification = Annotated[str | None, _enum("classification")]
Verdict = Annotated[str | None, _enum("verdict")]
ServiceSource = Annotated[str | None, _enum("service_source")]


class _GraphModel(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True, arbitrary_types_allowed=True)


class Evidence(_GraphModel):
    """One evidence item; every key is kept, only the common ones are typed."""

    odata_type: LooseStr = Field(default=None, alias="@odata.type")
    created: OptionalTime = Field(default=None, alias="createdDateTime")
    verdict: Verdict = None
    remediation_status: LooseStr = Field(default=None, alias="remediationStatus")
    roles: Texts = Field(default_factory=list)
    detailed_roles: Texts = Field(default_factory=list, alias="detailedRoles")
    tags: Texts = Field(default_factory=list)

    @property
    def kind(self) -> str:
        return evidence_kind(self.odata_type)


class Comment(_GraphModel):
    """An incident or alert comment (older payloads say ``createdBy``/``createdTime``)."""

    comment: LooseStr = None
    created_by: LooseStr = Field(default=None, alias="createdByDisplayName")
    created: OptionalTime = Field(default=None, alias="createdDateTime")

    @model_validator(mode="before")
    @classmethod
    def _legacy_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            data.setdefault("createdByDisplayName", data.get("createdBy"))
            data.setdefault("createdDateTime", data.get("createdTime"))
        return data


class Alert(_GraphModel):
    """An alert (alerts_v2 shape), as expanded inside an incident. Its ``id`` is required: alerts are
    keyed by it, since they can move between incidents."""

    id: Annotated[str, BeforeValidator(_trimmed)]
    incident_id: TrimmedStr = Field(default=None, alias="incidentId")
    provider_alert_id: LooseStr = Field(default=None, alias="providerAlertId")
    title: LooseStr = None
    description: LooseStr = None
    status: AlertStatus = None
    severity: Severity = None
    classification: Classification = None
    determination: LooseStr = None
    service_source: ServiceSource = Field(default=None, alias="serviceSource")
    detection_source: LooseStr = Field(default=None, alias="detectionSource")
    product_name: LooseStr = Field(default=None, alias="productName")
    category: LooseStr = None
    mitre_techniques: Texts = Field(default_factory=list, alias="mitreTechniques")
    threat_display_name: LooseStr = Field(default=None, alias="threatDisplayName")
    threat_family_name: LooseStr = Field(default=None, alias="threatFamilyName")
    alert_web_url: TrimmedStr = Field(default=None, alias="alertWebUrl")
    created: OptionalTime = Field(default=None, alias="createdDateTime")
    last_update: OptionalTime = Field(default=None, alias="lastUpdateDateTime")
    first_activity: OptionalTime = Field(default=None, alias="firstActivityDateTime")
    last_activity: OptionalTime = Field(default=None, alias="lastActivityDateTime")
    resolved: OptionalTime = Field(default=None, alias="resolvedDateTime")
    evidence: Annotated[list[Evidence], BeforeValidator(_objects)] = Field(default_factory=list)
    comments: Annotated[list[Comment], BeforeValidator(_objects)] = Field(default_factory=list)

    @property
    def is_mdo(self) -> bool:
        return (self.service_source or "").lower() == MDO_SERVICE_SOURCE.lower()


class Incident(_GraphModel):
    """A security incident. ``id`` and ``lastUpdateDateTime`` are required: without them a record
    can be neither deduplicated nor ordered, so it is quarantined instead."""

    id: str
    last_update: GraphTime = Field(alias="lastUpdateDateTime")
    tenant_id: LooseStr = Field(default=None, alias="tenantId")
    display_name: LooseStr = Field(default=None, alias="displayName")
    status: IncidentStatus = None
    severity: Severity = None
    classification: Classification = None
    determination: LooseStr = None
    created: OptionalTime = Field(default=None, alias="createdDateTime")
    assigned_to: LooseStr = Field(default=None, alias="assignedTo")
    incident_web_url: TrimmedStr = Field(default=None, alias="incidentWebUrl")
    redirect_incident_id: Annotated[
        str | None, BeforeValidator(lambda value: incident_identifier(value, name="redirectIncidentId"))
    ] = Field(default=None, alias="redirectIncidentId")
    custom_tags: Texts = Field(default_factory=list, alias="customTags")
    system_tags: Texts = Field(default_factory=list, alias="systemTags")
    description: LooseStr = None
    summary: LooseStr = None
    resolving_comment: LooseStr = Field(default=None, alias="resolvingComment")
    last_modified_by: LooseStr = Field(default=None, alias="lastModifiedBy")
    priority_score: int | None = Field(default=None, alias="priorityScore")
    comments: Annotated[list[Comment], BeforeValidator(_objects)] = Field(default_factory=list)
    alerts: Annotated[list[Alert], BeforeValidator(_alert_objects)] = Field(default_factory=list)

    @property
    def has_mdo_alert(self) -> bool:
        return any(alert.is_mdo for alert in self.alerts)

    @model_validator(mode="before")
    @classmethod
    def _legacy_tags(cls, data: Any) -> Any:
        if isinstance(data, dict) and "customTags" not in data and "tags" in data:
            data = dict(data)
            data["customTags"] = data["tags"]
        return data

    @field_validator("id", mode="before")
    @classmethod
    def _id(cls, value: Any) -> str | None:
        return incident_identifier(value)

    @field_validator("last_update", mode="before")
    @classmethod
    def _required_time(cls, value: Any) -> GraphTime:
        value = blank_to_none(value)
        if value is None:
            raise ValueError("lastUpdateDateTime is missing")
        return GraphTime.parse(value) if not isinstance(value, GraphTime) else value

    @field_validator("priority_score", mode="before")
    @classmethod
    def _score(cls, value: Any) -> Any:
        value = blank_to_none(value)
        try:
            return None if value is None else int(value)
        except (TypeError, ValueError):
            return None
