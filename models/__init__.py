"""Face models behind small typed classes: detection, alignment, quality, embedding, gallery."""

from models.errors import GalleryError, ImageError, ModelError, ModelLoadError, ModelNotFound

__all__ = ["GalleryError", "ImageError", "ModelError", "ModelLoadError", "ModelNotFound"]
