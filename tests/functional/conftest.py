"""This tier's fixtures: moto's server and a stack per test, generated media and device files."""

from tests.support.media import device_files, media  # noqa: F401 - fixtures
from tests.support.stack import moto_endpoint, stack  # noqa: F401 - fixtures
