"""Back office: agents see a card's SOS alerts and set its emergency contacts (audited, with a reason)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from roamcard.db import Database
from roamcard.emergency import service as emergency_service
from roamcard.models import Card, EmergencyContact
from tests.backoffice.console import audit_entries, csrf, make_staff, sign_in

EN = {"Accept-Language": "en"}


def _post(client: TestClient, card: Card, **fields: str) -> object:
    token = csrf(client.get("/admin", headers=EN).text)
    return client.post(
        f"/admin/cards/{card.card_number}/emergency-contacts",
        data={"csrf_token": token, **fields},
        headers=EN,
        follow_redirects=False,
    )


def _contacts(database: Database, card: Card) -> list[tuple[str, str]]:
    with database.reading() as session:
        rows = session.scalars(select(EmergencyContact).where(EmergencyContact.card_id == card.id))
        return [(row.name, row.phone) for row in rows]


class TestAgentSetsContacts:
    def test_saved_and_audited_with_the_reason(
        self, client: TestClient, database: Database, card: Card
    ) -> None:
        sign_in(client, *make_staff(database, "agent"))
        response = _post(
            client,
            card,
            holder_name="Wang Fang",
            name_0="Dad",
            phone_0="+86 139 0013 9002",
            reason="caller asked",
        )
        assert response.status_code == 303  # type: ignore[attr-defined]
        assert _contacts(database, card) == [("Dad", "+8613900139002")]
        (entry,) = audit_entries(database, "emergency.contacts_changed")
        assert entry.reason == "caller asked"
        assert entry.after == {
            "holder_name": "Wang Fang",
            "contacts": [{"name": "Dad", "phone": "+86139****9002", "language": "zh-CN"}],
        }

    def test_a_bad_phone_is_refused_and_changes_nothing(
        self, client: TestClient, database: Database, card: Card
    ) -> None:
        sign_in(client, *make_staff(database, "agent"))
        response = _post(client, card, name_0="Dad", phone_0="13900139002", reason="caller asked")
        assert response.status_code == 422  # type: ignore[attr-defined]
        assert _contacts(database, card) == []
        assert audit_entries(database, "emergency.contacts_changed") == []

    def test_a_reason_is_required(self, client: TestClient, database: Database, card: Card) -> None:
        sign_in(client, *make_staff(database, "agent"))
        assert _post(client, card, name_0="Dad", phone_0="+8613900139002", reason=" ").status_code == 422  # type: ignore[attr-defined]
        assert _contacts(database, card) == []

    def test_finance_may_not(self, client: TestClient, database: Database, card: Card) -> None:
        sign_in(client, *make_staff(database, "finance"))
        assert _post(client, card, name_0="Dad", phone_0="+8613900139002", reason="x").status_code == 403  # type: ignore[attr-defined]
        assert _contacts(database, card) == []


class TestCardPageShowsSos:
    def test_sos_alerts_and_contacts_are_listed(
        self, client: TestClient, database: Database, card: Card
    ) -> None:
        with database.transaction() as session:
            emergency_service.save(
                session,
                card,
                holder_name=None,
                contacts=[emergency_service.ContactInput("Mum", "+8613900139000", "zh-CN")],
            )
            emergency_service.raise_sos(session, card, channel="portal")
        sign_in(client, *make_staff(database, "agent"))
        page = client.get(f"/admin/cards/{card.card_number}", headers=EN).text
        assert 'data-testid="sos-alerts"' in page
        assert "<td>portal</td>" in page
        assert "Mum · +86139****9000" in page
