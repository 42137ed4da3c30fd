"""The wire contract of gatewatch: payload schemas, file formats and shared config pieces.

Imports nothing of the project; pydantic is its only dependency.
"""

CONTRACT_VERSION = 1
