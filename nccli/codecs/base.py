"""The Codec protocol every backend implements, and the registry that finds backends.

Backends register through the entry-point group ``nccli.codecs``; built-in ones do so in
nccli's own pyproject.toml, so a third-party package adds a codec the same way.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, ClassVar

from nccli.container.header import CoderRef, Header, ModelRef
from nccli.errors import UsageError

if TYPE_CHECKING:
    from nccli.media.image import Image

ENTRY_POINT_GROUP = "nccli.codecs"
#: The codec used when none is named, per modality.
DEFAULT_CODECS = {"image": "nc-photo", "audio": "opus"}
#: Tried in turn for an image the default image codec cannot keep (alpha, 16-bit samples):
#: webp keeps alpha exactly, png keeps everything.
IMAGE_FALLBACKS = ("webp", "png")


@dataclass(frozen=True)
class Param:
    """A tunable parameter of a codec, with its range in the codec's own scale."""

    name: str
    kind: type[int] | type[float] | type[str]
    low: float
    high: float
    default: float | str
    help: str = ""
    #: For a str parameter: the values it accepts.
    choices: tuple[str, ...] = ()

    def parse(self, value: Any) -> int | float | str:
        """Validate a user-given value (string or number) and convert it to the param's kind."""
        if self.kind is str:
            if value not in self.choices:
                raise UsageError(
                    f"{self.name} must be one of {', '.join(self.choices)}, not {value!r}"
                )
            return str(value)
        try:
            number = float(value)
            if self.kind is int and not number.is_integer():
                raise ValueError
        except (TypeError, ValueError):
            raise UsageError(f"{self.name} must be {self._kind_name()}, not {value!r}") from None
        if not self.low <= number <= self.high:
            raise UsageError(f"{self.name} must lie in {self.low:g}..{self.high:g}, not {value}")
        return self.kind(number)

    def _kind_name(self) -> str:
        return "a whole number" if self.kind is int else "a number"


@dataclass
class Encoded:
    """What a backend's encode returns: payload chunks plus header fields it needs back."""

    chunks: list[bytes]
    fields: dict[str, Any] = field(default_factory=dict)
    model: ModelRef | None = None
    entropy_coder: CoderRef | None = None


class Codec(ABC):
    """A compression backend. Subclasses set the class attributes and the two methods."""

    name: ClassVar[str]
    modality: ClassVar[str]
    version: ClassVar[int]
    description: ClassVar[str] = ""
    lossless: ClassVar[bool] = False
    params: ClassVar[tuple[Param, ...]] = ()
    #: Parameter whose increase spends more bits; searched by --bpp. None: no rate control.
    rate_param: ClassVar[str | None] = None
    #: Values of rate_param that `nccli eval --sweep` runs, low rate to high.
    sweep: ClassVar[tuple[float, ...]] = ()

    def identity(self, params: dict[str, Any]) -> str:
        """What else, beyond name, version and parameters, decides the output (e.g. the
        digest of a model's weights); part of the eval cache key."""
        return ""

    def unavailable_reason(self) -> str | None:
        """None when the backend can run here, else why it cannot."""
        return None

    def check(self, media: Any) -> None:  # noqa: B027 - optional hook, no-op by default
        """Raise UsageError when this codec cannot keep something the media has.

        The API calls it before encode, so encode may assume the media is acceptable.
        """

    @abstractmethod
    def encode(self, media: Any, params: dict[str, Any]) -> Encoded:
        """Compress media with validated parameters."""

    @abstractmethod
    def decode(self, header: Header, chunks: list[bytes]) -> Any:
        """Rebuild media from a header and the payload chunks."""

    def resolve_params(self, given: dict[str, Any]) -> dict[str, Any]:
        """Defaults overlaid with validated user values; unknown names are usage errors."""
        specs = {p.name: p for p in self.params}
        unknown = sorted(set(given) - set(specs))
        if unknown:
            known = ", ".join(specs) or "none"
            raise UsageError(f"codec {self.name} has no parameter {unknown[0]!r} (it has: {known})")
        resolved = {p.name: p.kind(p.default) for p in self.params}
        resolved.update({name: specs[name].parse(value) for name, value in given.items()})
        return resolved

    def param(self, name: str) -> Param:
        return next(p for p in self.params if p.name == name)


@dataclass(frozen=True)
class RegistryEntry:
    """A registered backend, or the reason its entry point could not be loaded."""

    name: str
    codec: Codec | None
    error: str | None = None


@functools.cache
def registry() -> dict[str, RegistryEntry]:
    """All backends of the entry-point group, loaded once; a broken plug-in is recorded."""
    entries: dict[str, RegistryEntry] = {}
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        if ep.name in entries:
            continue
        try:
            codec = ep.load()()
            if not isinstance(codec, Codec) or codec.name != ep.name:
                raise TypeError(f"{ep.value} is not a Codec named {ep.name!r}")
            entries[ep.name] = RegistryEntry(ep.name, codec)
        except Exception as exc:  # a broken plug-in must not break nccli
            entries[ep.name] = RegistryEntry(ep.name, None, f"failed to load: {exc}")
    return entries


def get_codec(name: str) -> Codec:
    """The backend registered under a name; UsageError when unknown or unavailable."""
    entry = registry().get(name)
    if entry is None:
        raise UsageError(f"unknown codec {name!r}; known: {', '.join(registry()) or 'none'}")
    if entry.codec is None:
        raise UsageError(f"codec {name!r} {entry.error}")
    reason = entry.codec.unavailable_reason()
    if reason:
        raise UsageError(f"codec {name!r} is not available here: {reason}")
    return entry.codec


def default_codec(modality: str) -> Codec:
    """The backend used for a modality when the user names none."""
    if modality not in DEFAULT_CODECS:
        raise UsageError(f"no default codec for {modality}; name one with --codec")
    return get_codec(DEFAULT_CODECS[modality])


@dataclass(frozen=True)
class ImageCodecChoice:
    """The codec for an image the user named none for, and why the default was passed over."""

    codec: Codec
    #: What the image has that the default cannot keep (e.g. "an alpha channel"), or None.
    passed_over: str | None = None


def choose_image_codec(media: Image, params: dict[str, Any]) -> ImageCodecChoice:
    """The default image codec, or for an image it cannot keep, the first of IMAGE_FALLBACKS
    that can.

    Parameters are in one codec's own scale (nc-photo's quality 4 is not webp's), so with
    parameters given, an image the default cannot keep is a usage error naming a codec that
    can, rather than a silent change of meaning.
    """
    default = default_codec("image")
    try:
        default.check(media)
        return ImageCodecChoice(default)
    except UsageError:
        fallback = next(filter(None, (_keeping(name, media) for name in IMAGE_FALLBACKS)), None)
        if fallback is None:
            raise
    what = (
        " and ".join(
            feature
            for feature, present in (
                ("an alpha channel", media.has_alpha),
                ("16-bit samples", media.bit_depth == 16),
            )
            if present
        )
        or f"mode {media.mode}"
    )
    if params:
        names = ", ".join(sorted(params))
        raise UsageError(
            f"the image has {what}, which the default codec {default.name} cannot keep, and "
            f"codec parameters ({names}) are in one codec's own scale: name a codec that keeps "
            f"it, e.g. --codec {fallback.name}"
        )
    return ImageCodecChoice(fallback, what)


def _keeping(name: str, media: Image) -> Codec | None:
    """The codec of that name when it is available here and keeps everything the image has."""
    try:
        codec = get_codec(name)
        codec.check(media)
    except UsageError:
        return None
    return codec
