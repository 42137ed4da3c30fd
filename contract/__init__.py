"""The wire contract of gatewatch: payload schemas, file formats, shared config, wire clients.

Imports nothing of the project. Besides pydantic it uses only the clients of its wires, so that
edge, server and enroll share them: PyYAML (``config.load_config``), paho-mqtt
(``mqtt.make_client``) and httpx (``http.JsonClient``); ``tests/test_layering.py`` holds the list.
"""

CONTRACT_VERSION = 1
