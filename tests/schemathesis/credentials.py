"""Credentials and fixtures for the schemathesis run, made through the
admin API of the server under test (ST_BASE_URL, ST_ADMIN_TOKEN).

Requests leave from 127.0.0.2 (the server listens on 127.0.0.1): tessera
limits login failures and mail per client IP, and the run's own fuzzing of
/auth/login and /registration from 127.0.0.1 uses those budgets up, as it
should.
"""

import itertools
import os

import requests
from requests.adapters import HTTPAdapter

BASE = os.environ["ST_BASE_URL"]
ADMIN = {"Authorization": f"Bearer {os.environ['ST_ADMIN_TOKEN']}"}
ACCOUNT_CLIENT = "tessera-account"
PASSWORD = "schemathesis-" + os.urandom(9).hex()
RUN = os.urandom(3).hex()
_serial = itertools.count(1)


class _FromOtherAddress(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = ("127.0.0.2", 0)
        super().init_poolmanager(*args, **kwargs)


def session() -> requests.Session:
    s = requests.Session()
    s.mount("http://", _FromOtherAddress())
    return s


def _check(r: requests.Response, what: str) -> requests.Response:
    if r.status_code >= 300:
        raise RuntimeError(f"{what}: {r.status_code} {r.text[:200]}")
    return r


def admin(s: requests.Session, method: str, path: str, body=None) -> dict:
    r = s.request(method, f"{BASE}{path}", headers=ADMIN, json=body, timeout=30)
    return _check(r, f"{method} {path}").json()


def new_user(s: requests.Session) -> dict:
    login = f"st-{RUN}-user-{next(_serial)}"
    return admin(
        s,
        "POST",
        "/admin/users",
        {
            "username": login,
            "email": f"{login}@example.com",
            "password": PASSWORD,
            "email_verified": True,
        },
    )


def user_token(s: requests.Session, login: str) -> str:
    """Log in, make a personal token, exchange it for an access token."""
    _check(
        s.post(f"{BASE}/auth/login", json={"login": login, "password": PASSWORD}, timeout=30),
        "login",
    )
    personal = _check(
        s.put(
            f"{BASE}/api/users/token",
            json={"scope": "openid profile email offline_access"},
            timeout=30,
        ),
        "personal token",
    ).json()["token"]
    return _check(
        s.post(
            f"{BASE}/api/oauth/token",
            json={
                "grant_type": "refresh_token",
                "client_id": ACCOUNT_CLIENT,
                "refresh_token": personal,
            },
            timeout=30,
        ),
        "access token",
    ).json()["access_token"]


def new_user_token() -> str:
    """An access token of a new user."""
    s = session()
    return user_token(s, new_user(s)["username"])


def new_client() -> tuple[str, str]:
    """A new confidential client that may introspect every token."""
    c = admin(
        session(),
        "POST",
        "/admin/clients",
        {
            "name": f"st-{RUN}-client-{next(_serial)}",
            "grant_types": ["client_credentials"],
            "scope": "read write",
            "introspect_any": True,
        },
    )
    return c["client_id"], c["client_secret"]


def new_entity_member() -> dict:
    """A new entity with an admin member and an API key: the path and header
    values of the entity-token operations."""
    s = session()
    user = new_user(s)
    token = user_token(s, user["username"])
    entity = admin(s, "POST", "/admin/entities", {"name": f"st-{RUN}-entity-{next(_serial)}"})
    admin(s, "PUT", f"/admin/entities/{entity['id']}/members/{user['id']}", {"role": "admin"})
    key = admin(s, "POST", f"/admin/entities/{entity['id']}/apikeys", {"name": "schemathesis"})
    return {
        "path": {"entityId": entity["id"], "userId": user["id"]},
        "headers": {"apikey": key["apikey"], "userid": user["id"], "token": token},
    }
