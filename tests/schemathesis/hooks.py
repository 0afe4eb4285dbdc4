"""Schemathesis hooks: credentials for the operations that need the admin
token, a user's bearer token or a client's Basic credentials.

The run itself deletes, disables and rotates whatever it can reach through
the admin API, and revokes the tokens it is called with (POST
/api/oauth/revoke without a body, DELETE /sessions/session). So instead of
fixed credentials, fresh ones are made (credentials.py) when first needed
and again whenever an answer is 401.

The admin token is set here rather than as [auth.openapi] in the config: a
configured OpenAPI scheme would take precedence over these hooks for every
operation.
"""

import os
import random
import sys

import requests
import schemathesis

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from credentials import new_client, new_entity_member, new_user_token  # noqa: E402

ADMIN_PATHS = r"^/admin/"
# Operations whose security names the user's bearer token (the session
# cookie is the other choice where there is one).
USER_PATHS = r"^/(api/users/|api/oauth/(revoke|send_email_link)$|oauth2/userinfo$|sessions)"
# Operations with client authentication (client_secret_basic).
CLIENT_PATHS = r"^/oauth2/token"
# The entity-token API: an API key, the acting user and their token in
# headers, the entity and member in the path.
ENTITY_PATHS = r"^/entities/"
# How often each of those values is set to the real one; otherwise the
# generated value stays, so refusals are exercised too.
ENTITY_REAL = 0.95


def _bearer(case, token):
    case.headers = case.headers or {}
    case.headers["Authorization"] = f"Bearer {token}"


@schemathesis.auth(retry_on=[]).apply_to(path_regex=ADMIN_PATHS)
class AdminBearer:
    def get(self, case, context):
        return os.environ["ST_ADMIN_TOKEN"]

    def set(self, case, data, context):
        _bearer(case, data)


@schemathesis.auth(retry_on=[401]).apply_to(path_regex=USER_PATHS)
class UserBearer:
    def get(self, case, context):
        return new_user_token()

    def set(self, case, data, context):
        _bearer(case, data)


@schemathesis.auth(retry_on=[401]).apply_to(path_regex=CLIENT_PATHS)
class ClientBasic:
    def get(self, case, context):
        return new_client()

    def set(self, case, data, context):
        case.headers = case.headers or {}
        user, password = data
        case.headers["Authorization"] = requests.auth._basic_auth_str(user, password)


@schemathesis.auth(retry_on=[401]).apply_to(path_regex=ENTITY_PATHS)
class EntityMember:
    def get(self, case, context):
        return new_entity_member()

    def set(self, case, data, context):
        case.headers = case.headers or {}
        for name, value in data["headers"].items():
            if random.random() < ENTITY_REAL:
                case.headers[name] = value
        for name, value in data["path"].items():
            if random.random() < ENTITY_REAL:
                case.path_parameters[name] = value
