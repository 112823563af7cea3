"""Media I/O: files and streams to arrays with their metadata, and back."""

from nccli.media.image import Image, convert_mode, read_image, write_image

__all__ = ["Image", "convert_mode", "read_image", "write_image"]
