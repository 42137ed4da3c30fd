from tests.server.conftest import db_url, http_url, server  # noqa: F401
