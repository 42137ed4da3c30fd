"""An alert as a short message in the site's language: masked name, local time, what happened, a
link. No face, no person id unless configured (``notify.person_id``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import tzinfo

from pydantic import BaseModel, ConfigDict, JsonValue

from contract.events import Alert
from server.i18n import text
from server.localtime import local_text
from server.notify.config import NotifyConfig
from server.site.names import SiteNames
from server.states import AlertRule
from server.wall.board import mask
from server.watch.alert_text import summary, summary_text

# person id -> (name, building) of a registered person, else None
Lookup = Callable[[str], tuple[str, str | None] | None]


class Message(BaseModel):
    """What every channel sends, stored in the outbox as it was composed."""

    model_config = ConfigDict(frozen=True)

    title: str
    lines: list[str]
    link: str | None = None
    link_label: str = ""  # the markdown link's words
    link_line: str = ""  # the plain text's line with the link
    alert: dict[str, JsonValue] | None = None  # the structured fields (the webhook's JSON)

    def plain(self) -> str:
        """Title, lines and the link as plain text."""
        out = [self.title, *self.lines]
        if self.link:
            out.append(self.link_line or self.link)
        return "\n".join(out)

    def markdown(self, line_break: str = "\n") -> str:
        """Markdown for the robots (DingTalk needs a blank line between lines)."""
        out = [f"**{self.title}**", *(f"> {ln}" for ln in self.lines)]
        if self.link:
            out.append(f"[{self.link_label or self.link}]({self.link})")
        return line_break.join(out)


class Composer:
    def __init__(
        self,
        cfg: NotifyConfig,
        site: str,
        locale: str,
        tz: tzinfo,
        public_url: str | None,
        lookup: Lookup,
        names: SiteNames | None = None,
    ) -> None:
        self.cfg, self.site, self.locale, self.tz = cfg, site, locale, tz
        self.public_url = public_url.rstrip("/") if public_url else None
        self.lookup = lookup
        self.names = names  # gates' and cameras' display names (None: the raw ids)

    def _t(self, key: str, **values: object) -> str:
        return text(self.locale, key, **values)

    def _person(self, alert: Alert) -> tuple[str, str]:
        """Who, as ``notify.names`` allows, and the message's line about them."""
        if self.cfg.names == "none":
            who = self._t("notify.hidden")
            return who, self._t("notify.person", person=who)
        label = self.lookup(alert.person_id)
        if label is None:
            key = "notify.visitor" if alert.rule == AlertRule.VISITOR_INSIDE_AT_NIGHT else (
                "notify.not_registered")  # fmt: skip
            who = self._t(key)
            return who, self._t("notify.person", person=who)
        name, building = label
        who = name if self.cfg.names == "full" else mask(name)
        if building:
            return who, self._t("notify.person_building", person=who, building=building)
        return who, self._t("notify.person", person=who)

    def alert(self, alert: Alert, event: str, count: int | None = None) -> Message:
        rule = self._t(f"rule.{alert.rule}")
        if event == "resolved":
            title = self._t("notify.title_resolved", rule=rule)
        elif event.startswith("repeat"):
            title = self._t("notify.title_repeat", rule=rule, count=count or "?")
        elif alert.priority == "high":
            title = self._t("notify.title_high", rule=rule)
        else:
            title = self._t("notify.title", rule=rule)
        what = summary_text(
            summary(alert.rule, alert.evidence), self.locale, self.tz, self.names
        )
        who, person_line = self._person(alert)
        lines = [
            person_line,
            self._t("notify.time", time=local_text(alert.created, self.tz)),
            self._t("notify.what", summary=what),
            self._t("notify.alert_no", id=alert.alert_id),
        ]
        if self.cfg.person_id:
            lines.insert(1, self._t("notify.person_id", id=alert.person_id))
        link = None
        if self.cfg.link and self.public_url:
            link = f"{self.public_url}/alerts?id={alert.alert_id}"
        fields: dict[str, JsonValue] = {
            "id": alert.alert_id,
            "rule": alert.rule,
            "priority": alert.priority,
            "state": alert.state,
            "event": event,
            "created": alert.created.isoformat(),
            "created_local": local_text(alert.created, self.tz),
            "person": who,
            "summary": what,
            "link": link,
        }
        if self.cfg.person_id:
            fields["person_id"] = alert.person_id
        return Message(
            title=title, lines=lines, link=link, link_label=self._t("notify.open"),
            link_line=self._t("notify.open_text", url=link) if link else "", alert=fields,
        )  # fmt: skip

    def test(self, channel: str) -> Message:
        return Message(
            title=self._t("notify.title_test"),
            lines=[self._t("notify.test_body", site=self.site, channel=channel)],
        )
