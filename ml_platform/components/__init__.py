"""The platform's component types: `PlatformModel`, one instance per model (`defs/models/<name>/defs.yaml`)."""

from ml_platform.components.platform_model import PlatformModel

__all__ = ["PlatformModel"]
