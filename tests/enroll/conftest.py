from tests.server.conftest import client, db_url, http_url, server  # noqa: F401
