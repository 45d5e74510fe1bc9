"""The live API server of the e2e tests, for the reliability tests that go through HTTP."""

from tests.e2e.conftest import api_server, new_client  # noqa: F401  (fixture re-exported)
