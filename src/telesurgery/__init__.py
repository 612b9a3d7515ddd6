"""Telesurgery: an open-source platform for remote robotic surgery.

Where a surgeon's hand motion becomes robot motion:
``console`` -> ``gateway`` -> ``protocol`` -> ``operation`` -> ``safety`` -> ``robot``.
Where a camera frame becomes a pixel on the surgeon's screen:
``robot.sim`` camera -> ``media`` -> ``gateway`` -> ``console``.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("telesurgery")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
