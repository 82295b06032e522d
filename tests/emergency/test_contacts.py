"""GET/PUT /api/v1/card/emergency-contacts: at most 3, phones validated as everywhere, any card status."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from roamcard.audit.service import Actor
from roamcard.db import Database
from roamcard.emergency import service
from roamcard.models import AuditEntry, Card, EmergencyContact
from tests.emergency.conftest import FRIEND, MUM

PATH = "/api/v1/card/emergency-contacts"


def _count(database: Database, card: Card) -> int:
    with database.reading() as session:
        return session.scalar(select(func.count()).where(EmergencyContact.card_id == card.id)) or 0


class TestContactsApi:
    def test_none_at_first(self, client: TestClient, auth: dict[str, str]) -> None:
        assert client.get(PATH, headers=auth).json() == {"holder_name": None, "contacts": []}

    def test_a_list_is_saved_normalised_and_read_back(self, client: TestClient, auth: dict[str, str]) -> None:
        response = client.put(PATH, headers=auth, json={"holder_name": " 李雷 ", "contacts": [MUM, FRIEND]})
        assert response.status_code == 200
        expected = {
            "holder_name": "李雷",
            "contacts": [
                {"position": 1, "name": "妈妈", "phone": "+8613900139000", "language": "zh-CN"},
                {"position": 2, "name": "Alex Smith", "phone": "+14155550123", "language": "en"},
            ],
        }
        assert response.json() == expected
        assert client.get(PATH, headers=auth).json() == expected

    def test_a_new_list_replaces_the_old(
        self, database: Database, client: TestClient, auth: dict[str, str], card: Card
    ) -> None:
        client.put(PATH, headers=auth, json={"contacts": [MUM, FRIEND]})
        body = client.put(PATH, headers=auth, json={"contacts": [FRIEND]}).json()
        assert [c["phone"] for c in body["contacts"]] == ["+14155550123"]
        assert _count(database, card) == 1

    def test_a_fourth_contact_is_refused_and_changes_nothing(
        self, database: Database, client: TestClient, auth: dict[str, str], card: Card
    ) -> None:
        client.put(PATH, headers=auth, json={"contacts": [MUM]})
        four = [{**FRIEND, "phone": f"+1415555012{i}"} for i in range(4)]
        response = client.put(PATH, headers=auth, json={"contacts": four})
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "contacts"
        assert _count(database, card) == 1

    def test_bad_fields_are_refused_with_the_field_named(
        self, database: Database, client: TestClient, auth: dict[str, str], card: Card
    ) -> None:
        cases = [
            ({**FRIEND, "phone": "4155550123"}, "contacts.0.phone"),  # no country code
            ({**FRIEND, "phone": "+1 000"}, "contacts.0.phone"),
            ({**FRIEND, "name": "   "}, "contacts.0.name"),
            ({**FRIEND, "name": "x" * 61}, "contacts.0.name"),
            ({**FRIEND, "language": "fr"}, "contacts.0.language"),
        ]
        for contact, field in cases:
            response = client.put(PATH, headers=auth, json={"contacts": [contact]})
            assert response.status_code == 422, contact
            assert response.json()["errors"][0]["field"] == field
        duplicate = client.put(PATH, headers=auth, json={"contacts": [FRIEND, FRIEND]})
        assert duplicate.json()["errors"][0]["field"] == "contacts.1.phone"
        assert _count(database, card) == 0

    def test_a_suspended_card_still_manages_its_contacts(
        self, database: Database, client: TestClient, auth: dict[str, str], card: Card
    ) -> None:
        with database.transaction() as session:
            session.execute(update(Card).where(Card.id == card.id).values(status="suspended"))
        assert client.put(PATH, headers=auth, json={"contacts": [MUM]}).status_code == 200
        assert len(client.get(PATH, headers=auth).json()["contacts"]) == 1

    def test_signed_out_is_refused(self, client: TestClient) -> None:
        assert client.get(PATH).status_code == 401
        assert client.put(PATH, json={"contacts": []}).status_code == 401


class TestAgentChanges:
    def test_an_agents_change_is_audited_with_masked_numbers(self, database: Database, card: Card) -> None:
        agent = Actor(staff_id=None, email="agent@example.com", role="agent")
        with database.transaction() as session:
            service.save(
                session,
                card,
                holder_name="Li Lei",
                contacts=[service.ContactInput("Mum", "+8613900139000", "zh-CN")],
                actor=agent,
                reason="holder called from abroad",
            )
        with database.reading() as session:
            entry = session.scalars(
                select(AuditEntry).where(AuditEntry.action == "emergency.contacts_changed")
            ).one()
        assert (entry.card_id, entry.staff_email, entry.reason) == (
            card.id,
            "agent@example.com",
            "holder called from abroad",
        )
        assert entry.before == {"holder_name": None, "contacts": []}
        assert entry.after is not None
        assert entry.after["contacts"] == [{"name": "Mum", "phone": "+86139****9000", "language": "zh-CN"}]

    def test_the_holders_own_change_is_not_an_audit_entry(
        self, client: TestClient, auth: dict[str, str], database: Database
    ) -> None:
        client.put(PATH, headers=auth, json={"contacts": [MUM]})
        with database.reading() as session:
            assert session.scalar(select(func.count()).select_from(AuditEntry)) == 0
