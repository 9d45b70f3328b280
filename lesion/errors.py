"""The domain errors raised while reading and analysing an image."""


class InvalidImageError(ValueError):
    """An upload or file that cannot be analysed; the message says what is wrong."""

    #: Machine-readable code used by the API; subclasses refine it.
    code = "invalid_image"


class UnsupportedImageError(InvalidImageError):
    """Bytes that are not an image in a supported format (empty, corrupt, truncated, text)."""

    code = "unsupported_image"


class UnprocessableImageError(InvalidImageError):
    """An image that decodes but cannot be analysed (too small, too large)."""

    code = "unprocessable_image"


class ModelLoadError(RuntimeError):
    """A model file or its card is missing, corrupt or inconsistent."""
