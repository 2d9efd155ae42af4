"""FakeWaha's address book: contacts, groups and LID pairings per session, in each engine's
shape."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

import attrs

from whatsignal.testing._waha_payloads import normalize_chat_id, now_ms
from whatsignal.testing._waha_state import me_for

__all__ = ["Directory"]


@attrs.define(eq=False)
class Directory:
    """Contacts (``/api/contacts*``), groups (``/api/{session}/groups``) and LIDs
    (``/api/{session}/lids*``) of each session."""

    engine: str
    _contacts: dict[str, dict[str, dict[str, Any]]] = attrs.Factory(dict)
    _groups: dict[str, dict[str, dict[str, Any]]] = attrs.Factory(dict)
    _lids: dict[str, dict[str, str | None]] = attrs.Factory(dict)

    def add_lid(
        self, lid: str, *, pn: str | None = None, session: str = "default"
    ) -> dict[str, Any]:
        """Teach the session a LID, paired with the phone number ``pn`` (None: a LID whose
        number the account does not know, answered ``pn: null``). Returns the pairing."""
        lid_id = lid if lid.endswith("@lid") else f"{''.join(ch for ch in lid if ch.isdigit())}@lid"
        if not lid_id.partition("@")[0].isdigit():
            raise ValueError(f"not a LID: {lid!r}")
        pn_id = normalize_chat_id(pn) if pn is not None else None
        if pn_id is not None and not pn_id.endswith("@c.us"):
            raise ValueError(f"not a phone number: {pn!r}")
        self._lids.setdefault(session, {})[lid_id] = pn_id
        return {"lid": lid_id, "pn": pn_id}

    def lids(self, session: str) -> list[dict[str, Any]]:
        """``GET /api/{session}/lids``: every LID whose phone number is known."""
        known = self._lids.get(session, {})
        return [{"lid": lid, "pn": pn} for lid, pn in known.items() if pn is not None]

    def phone_of(self, session: str, lid: str) -> dict[str, Any]:
        """``GET /api/{session}/lids/{lid}``: ``pn`` is null for a LID without a known number."""
        return {"lid": lid, "pn": self._lids.get(session, {}).get(lid)}

    def lid_of(self, session: str, phone: str) -> dict[str, Any]:
        """``GET /api/{session}/lids/pn/{phoneNumber}`` (digits or a chat id): ``lid`` is null
        for a number without a known LID."""
        pn = normalize_chat_id(phone).replace("@s.whatsapp.net", "@c.us")
        found = [lid for lid, known in self._lids.get(session, {}).items() if known == pn]
        return {"lid": found[0] if found else None, "pn": pn}

    def add_contact(
        self,
        number: str,
        *,
        session: str = "default",
        name: str | None = None,
        pushname: str | None = None,
        picture_url: str | None = None,
    ) -> dict[str, Any]:
        """Put a contact in the session's address book (``/api/contacts/all`` lists it)."""
        contact_id = normalize_chat_id(number)
        contact = {
            "id": contact_id,
            "number": contact_id.split("@")[0],
            "name": name,
            "pushname": pushname,
            "shortName": name.split()[0] if name else None,
            "isMe": False,
            "isGroup": False,
            "isWAContact": True,
            "isMyContact": name is not None,
            "isBlocked": False,
            "profilePictureURL": picture_url,
        }
        self._contacts.setdefault(session, {})[contact_id] = contact
        return contact

    def contacts(self, session: str) -> list[dict[str, Any]]:
        return [self.contact(session, cid) for cid in self._contacts.get(session, {})]

    def contact(self, session: str, contact_id: str) -> dict[str, Any]:
        """The contact as WAHA shows it; unknown numbers look like a bare WhatsApp user."""
        contact_id = normalize_chat_id(contact_id)
        found = self._contacts.get(session, {}).get(contact_id)
        if found is None:
            found = {
                "id": contact_id,
                "number": contact_id.split("@")[0],
                "name": None,
                "pushname": None,
                "shortName": None,
                "isMe": contact_id == me_for(session)["id"],
                "isGroup": contact_id.endswith("@g.us"),
                "isWAContact": True,
                "isMyContact": False,
                "isBlocked": False,
            }
        return {k: v for k, v in found.items() if k != "profilePictureURL"}

    def profile_picture(self, session: str, contact_id: str) -> str | None:
        found = self._contacts.get(session, {}).get(normalize_chat_id(contact_id))
        return found.get("profilePictureURL") if found else None

    def add_group(
        self,
        subject: str,
        *,
        session: str = "default",
        participants: Sequence[str] = (),
        admins: Sequence[str] = (),
        group_id: str | None = None,
    ) -> str:
        """Create a group the session's account is in; returns its ``<id>@g.us``."""
        if group_id is None:
            group_id = "120363" + "".join(secrets.choice("0123456789") for _ in range(12))
        gid = group_id if group_id.endswith("@g.us") else f"{group_id}@g.us"
        me_id = me_for(session)["id"]
        members = [me_id, *(normalize_chat_id(p) for p in participants)]
        admin_ids = {me_id, *(normalize_chat_id(a) for a in admins)}
        self._groups.setdefault(session, {})[gid] = {
            "id": gid,
            "subject": subject,
            "owner": me_id,
            "creation": now_ms() // 1000,
            "participants": [(m, m in admin_ids, m == me_id) for m in members],
        }
        return gid

    def rename_group(self, session: str, group_id: str, subject: str) -> None:
        """Change a group's subject; KeyError when the session has no such group."""
        self._groups[session][group_id]["subject"] = subject

    def group_ids(self, session: str) -> list[str]:
        return list(self._groups.get(session, {}))

    def group(self, session: str, group_id: str) -> dict[str, Any] | None:
        """The group in the engine's own shape (see deviation ``engine-native-groups``)."""
        found = self._groups.get(session, {}).get(group_id)
        if found is None:
            return None
        if self.engine in ("NOWEB", "GOWS"):
            return {
                "id": found["id"],
                "subject": found["subject"],
                "owner": found["owner"].replace("@c.us", "@s.whatsapp.net"),
                "creation": found["creation"],
                "participants": [
                    {
                        "id": m.replace("@c.us", "@s.whatsapp.net"),
                        "admin": ("superadmin" if owner else "admin") if admin else None,
                    }
                    for m, admin, owner in found["participants"]
                ],
            }
        user = found["id"].split("@")[0]
        serialized = {"server": "g.us", "user": user, "_serialized": found["id"]}
        return {
            "id": serialized,
            "name": found["subject"],
            "isGroup": True,
            "timestamp": found["creation"],
            "groupMetadata": {
                "id": serialized,
                "subject": found["subject"],
                "owner": {"_serialized": found["owner"]},
                "creation": found["creation"],
                "participants": [
                    {
                        "id": {"server": "c.us", "user": m.split("@")[0], "_serialized": m},
                        "isAdmin": admin,
                        "isSuperAdmin": owner,
                    }
                    for m, admin, owner in found["participants"]
                ],
            },
        }

    def groups_listing(self, session: str) -> Any:
        """``GET /api/{session}/groups``: WEBJS/WPP an array, NOWEB/GOWS an object by id."""
        groups = [self.group(session, gid) for gid in self.group_ids(session)]
        if self.engine in ("NOWEB", "GOWS"):
            return {g["id"]: g for g in groups if g is not None}
        return groups
