"""The exception family of the face layer; every message says what to do."""


class ModelError(Exception):
    """Base of every error raised by the face layer."""


class ModelNotFound(ModelError):
    """A model file or pack is not where the config says."""


class ModelLoadError(ModelError):
    """A model file exists but cannot be prepared or loaded."""


class ImageError(ModelError):
    """An image is unreadable, empty or of the wrong type."""


class GalleryError(ModelError):
    """A gallery snapshot is corrupt, tampered with, or made by another model."""
