"""nccli: neural compression of images, audio and video, from the command line and Python."""

from nccli.api import __version__, decode, decode_media, encode

__all__ = ["__version__", "decode", "decode_media", "encode"]
