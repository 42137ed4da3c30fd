"""States, roles, alert rules and audit actions of the server, declared once."""

from __future__ import annotations

from enum import StrEnum


class UserRole(StrEnum):
    """Who may do what through the API."""

    ADMIN = "admin"
    OFFICER = "officer"
    VIEWER = "viewer"
    EDGE = "edge"


class AlertState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    CLOSED = "closed"
    RESOLVED = "resolved"  # its condition ended by itself (the elder came back)


class SearchState(StrEnum):
    ACTIVE = "active"
    CLOSED = "closed"


class AlertRule(StrEnum):
    """Why an alert was raised (the wire contract's ``Alert.rule``)."""

    NOT_SEEN = "not_seen"
    OUT_NOT_BACK = "out_not_back"
    NO_PASSAGE_TODAY = "no_passage_today"
    OUT_AT_NIGHT = "out_at_night"
    SIGHTING = "sighting"
    VISITOR_INSIDE_AT_NIGHT = "visitor_inside_at_night"
    WATCHLIST_SEEN = "watchlist_seen"


HIGH_PRIORITY = frozenset({AlertRule.WATCHLIST_SEEN})  # shown in red with a sound


class VisitOutcome(StrEnum):
    """How a home visit went."""

    OK = "ok"
    NEEDS_HELP = "needs_help"
    NOT_HOME = "not_home"
    REFERRED = "referred"


# The visits that saw the person: only these take someone off the due list (a door nobody
# opened says nothing of how they are).
SEEN_AT_VISIT = frozenset({VisitOutcome.OK, VisitOutcome.NEEDS_HELP, VisitOutcome.REFERRED})


class Verdict(StrEnum):
    """An officer's decision on a sighting candidate."""

    CONFIRMED = "confirmed"
    REJECTED = "rejected"


class TemplateSource(StrEnum):
    """Where a face template came from (the gallery that learns at the gate)."""

    ENROLLMENT = "enrollment"  # the desk; never replaced by learning
    GATE_CONFIRMED = "gate_confirmed"  # a review item an officer confirmed
    GATE_AUTO = "gate_auto"  # learned under guard


GATE_SOURCES = (TemplateSource.GATE_CONFIRMED, TemplateSource.GATE_AUTO)


class ReviewKind(StrEnum):
    NEAR_MISS = "near_miss"  # a passage just below the naming threshold
    RETURNING_VISITOR = "returning_visitor"  # a visitor id seen on several recent days


class ReviewState(StrEnum):
    OPEN = "open"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"


class ReviewVerdict(StrEnum):
    """An officer's answer to "是否为 <name>？"."""

    CONFIRM = "confirm"
    REJECT = "reject"


class AuditAction(StrEnum):
    """Every action written to the audit log."""

    ADD_USER = "add_user"
    PUT_PERSON = "put_person"
    READ_PERSON = "read_person"
    REMOVE_PERSON = "remove_person"
    ADD_TEMPLATES = "add_templates"
    PUT_REFERENCE = "put_reference"
    VIEW_REFERENCE = "view_reference"
    DELETE_REFERENCE = "delete_reference"
    PUBLISH_GALLERY = "publish_gallery"
    EVENTS = "events"
    TRAJECTORY = "trajectory"
    WHEREABOUTS = "whereabouts"
    ALERT_ACKNOWLEDGE = "alert_acknowledge"
    ALERT_CLOSE = "alert_close"
    ALERT_ACKNOWLEDGE_BULK = "alert_acknowledge_bulk"
    RAISE_SEARCH = "raise_search"
    READ_SEARCH = "read_search"
    CLOSE_SEARCH = "close_search"
    WATCH_SEARCH = "watch_search"
    VIEW_EVIDENCE = "view_evidence"
    JUDGE_CANDIDATE = "judge_candidate"
    LIST_SEARCHES = "list_searches"
    LIST_ALERTS = "list_alerts"
    LIST_PERSONS = "list_persons"
    READ_BOARD = "read_board"
    WATCH_BOARD = "watch_board"
    DOWNLOAD_GALLERY = "download_gallery"
    AUTH_DENIED = "auth_denied"
    ACCESS_DENIED = "access_denied"
    LOGIN = "login"
    LIST_USERS = "list_users"
    REVOKE_USER = "revoke_user"
    ROTATE_TOKEN = "rotate_token"
    VISITORS_INSIDE = "visitors_inside"
    READ_ROSTER = "read_roster"
    FIND_PERSONS = "find_persons"
    PERSON_OVERVIEW = "person_overview"
    RECORD_VISIT = "record_visit"
    LIST_VISITS = "list_visits"
    VISITS_DUE = "visits_due"
    LIST_REVIEW = "list_review"
    VIEW_REVIEW_FACE = "view_review_face"
    JUDGE_REVIEW = "judge_review"
    READ_TEMPLATES = "read_templates"
    REMOVE_TEMPLATE = "remove_template"
    NOTIFY_TEST = "notify_test"
    VIEW_PASSAGE_FACE = "view_passage_face"
