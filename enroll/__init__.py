"""gatewatch enroll: the reception desk's enrollment CLI, a client of the server's API."""
