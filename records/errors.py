"""The records' domain errors, translated to HTTP answers only at the edge."""


class RecordsError(Exception):
    """Base of the records errors; ``code`` is the API's machine-readable code."""

    code = "records_error"


class NotFoundError(RecordsError):
    """No such record in this clinic (another clinic's record is reported the same way: no existence leak)."""

    code = "not_found"


class InvalidRecordError(RecordsError):
    """A field of a new record is missing or malformed; the message names it."""

    code = "invalid_parameter"


class RecordsKeyError(RecordsError):
    """``LESION_RECORDS_KEY`` is not a URL-safe base64 encoding of 32 bytes, or does not open a photo."""

    code = "bad_key"
