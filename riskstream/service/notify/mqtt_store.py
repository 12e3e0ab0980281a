"""Which lenders have their alert changes published over MQTT, and how."""

from dataclasses import dataclass

from sqlalchemy import Boolean, Float, String, select
from sqlalchemy.orm import Mapped, mapped_column

from devices.registry import Base, SqlStore
from riskstream.service.notify.webhook_store import NotifyCursorRow


class MqttAlertsRow(Base):
    __tablename__ = "mqtt_alert_settings"
    tenant: Mapped[str] = mapped_column(String(128), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean)
    retained: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[float] = mapped_column(Float)
    updated_by: Mapped[str] = mapped_column(String(128))


@dataclass(frozen=True)
class MqttAlerts:
    """A lender's MQTT alert settings (off until a risk admin turns them on)."""

    tenant: str
    enabled: bool = False
    retained: bool = False
    updated_at: float | None = None
    updated_by: str | None = None


class MqttAlertStore(SqlStore):
    """Per-lender MQTT alert settings and the publisher's cursor."""

    def get(self, tenant: str) -> MqttAlerts:
        """``tenant``'s settings (off if never set)."""
        with self._session() as s:
            row = s.get(MqttAlertsRow, tenant)
            if row is None:
                return MqttAlerts(tenant)
            return MqttAlerts(tenant, row.enabled, row.retained, row.updated_at, row.updated_by)

    def set(self, tenant: str, enabled: bool, retained: bool, actor: str, now: float) -> MqttAlerts:
        """Turn ``tenant``'s alerts over MQTT on or off."""
        with self._session() as s:
            row = s.get(MqttAlertsRow, tenant)
            if row is None:
                row = MqttAlertsRow(tenant=tenant)
                s.add(row)
            row.enabled, row.retained, row.updated_at, row.updated_by = (
                enabled,
                retained,
                now,
                actor,
            )
        return MqttAlerts(tenant, enabled, retained, now, actor)

    def enabled(self) -> dict[str, bool]:
        """Every lender that publishes, mapped to whether it keeps retained copies."""
        with self._session() as s:
            rows = s.scalars(select(MqttAlertsRow).where(MqttAlertsRow.enabled))
            return {r.tenant: r.retained for r in rows}

    def cursor(self, name: str) -> int | None:
        """How far ``name`` has read the alert changes (None: never started)."""
        with self._session() as s:
            row = s.get(NotifyCursorRow, name)
            return None if row is None else row.seq

    def move_cursor(self, name: str, seq: int) -> None:
        """Record that everything up to ``seq`` was published (acknowledged by the broker)."""
        with self._session() as s:
            self._serialize(s, [f"notify_cursor/{name}"])
            row = s.get(NotifyCursorRow, name)
            if row is None:
                s.add(NotifyCursorRow(name=name, seq=seq))
            else:
                row.seq = max(row.seq, seq)
