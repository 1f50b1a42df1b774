"""Fixtures for the StartOS package tests; they live in startos_helpers.py (a unique module
name, so other test folders' conftest files cannot shadow it)."""

from startos_helpers import (  # noqa: F401 - pytest registers imported fixtures
    action,
    action_stdin,
    data_dir,
    fake_appsrc,
    input_mode,
    rsa_pem,
    service_account,
)
