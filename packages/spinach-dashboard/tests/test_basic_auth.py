"""The standalone server's basic authentication, from its environment variables."""

import base64

from werkzeug.test import Client

from spinach import Engine, MemoryBroker
from spinach_dashboard.server import BasicAuth, build


def auth(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def test_with_a_password_every_request_needs_it() -> None:
    engine = Engine(MemoryBroker(), namespace="auth")
    app = build(engine, environ={"SPINACH_DASHBOARD_PASSWORD": "pa:ss w0rd"})
    assert isinstance(app, BasicAuth)
    client = Client(app)
    refused = client.get("/")
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith("Basic ")
    assert client.get("/", headers=auth("admin", "wrong")).status_code == 401
    assert client.get("/", headers=auth("bob", "pa:ss w0rd")).status_code == 401
    assert client.get("/", headers={"Authorization": "Basic !!!"}).status_code == 401
    assert client.get("/", headers=auth("admin", "pa:ss w0rd")).status_code == 200


def test_the_user_name_can_be_chosen() -> None:
    engine = Engine(MemoryBroker(), namespace="auth")
    env = {"SPINACH_DASHBOARD_PASSWORD": "pw", "SPINACH_DASHBOARD_USER": "ops"}
    client = Client(build(engine, environ=env))
    assert client.get("/", headers=auth("ops", "pw")).status_code == 200
    assert client.get("/", headers=auth("admin", "pw")).status_code == 401


def test_without_a_password_the_dashboard_is_served_as_it_is() -> None:
    engine = Engine(MemoryBroker(), namespace="auth")
    assert not isinstance(build(engine, environ={}), BasicAuth)
