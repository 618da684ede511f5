"""Monitoring fixtures: the serving tests' platform and served Bento, reused as they are."""

from ml_platform_tests.serving.conftest import platform, service  # noqa: F401
