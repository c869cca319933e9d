"""The system records a new EventStoreDB node writes, and the epoch of each start.

All have `$`-prefixed types, so `$all` reads with the default filter hide them;
they give a filter-nothing subscription something to see on an empty node. The
user records carry a random salt and hash: plausible in shape, no real password.
"""

from __future__ import annotations

import base64
import json
import os
import uuid

from esdb_emulator.log.records import ProposedEvent
from esdb_emulator.log.transaction import AppendOp

EPOCHS_STREAM = "$epochs"

_ACL_ALL = {"$r": "$all", "$w": "$all", "$d": "$all", "$mr": "$all", "$mw": "$all"}
_ACL_ADMINS = {key: "$admins" for key in _ACL_ALL}


def new_node_id() -> str:
    """A fresh instance id for a new node's leader."""
    return str(uuid.uuid4())


def epoch_append(leader_id: str, epoch_number: int, position: int) -> AppendOp:
    """This start's `$epoch-information` in `$epochs`; the epoch begins at `position`."""
    data = {
        "epochNumber": epoch_number,
        "epochId": str(uuid.uuid4()),
        "epochPosition": position,
        "leaderInstanceId": leader_id,
    }
    return AppendOp(EPOCHS_STREAM, "any", [_json_event("$epoch-information", data)])


def new_node_appends() -> list[AppendOp]:
    """What a new node writes once: its two default users and the default ACLs."""
    return [
        *_user("admin", "Event Store Administrator", "$admins"),
        *_user("ops", "Event Store Operations", "$ops"),
        AppendOp(
            "$settings",
            "any",
            [
                _json_event(
                    "$settings",
                    {"$userStreamAcl": _ACL_ALL, "$systemStreamAcl": _ACL_ADMINS},
                )
            ],
        ),
    ]


def _user(login: str, full_name: str, group: str) -> list[AppendOp]:
    details = {
        "loginName": login,
        "fullName": full_name,
        "salt": base64.b64encode(os.urandom(16)).decode(),
        "hash": base64.b64encode(os.urandom(20)).decode(),
        "disabled": False,
        "groups": [group],
    }
    created = ProposedEvent(
        event_id=str(uuid.uuid4()),
        type="$UserCreated",
        content_type="application/octet-stream",
        metadata=b"",
        data=login.encode(),
    )
    return [
        AppendOp(f"$user-{login}", "any", [_json_event("$user", details)]),
        AppendOp("$users", "any", [created]),
    ]


def _json_event(event_type: str, data: object) -> ProposedEvent:
    return ProposedEvent(
        event_id=str(uuid.uuid4()),
        type=event_type,
        content_type="application/json",
        metadata=b"",
        data=json.dumps(data, separators=(",", ":")).encode(),
    )
