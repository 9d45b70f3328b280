"""A request class that keeps uploaded files in memory, never in a temporary file."""

from __future__ import annotations

import io
from typing import IO

from flask import Request


class InMemoryRequest(Request):
    """Werkzeug spools uploads over 500 kB to disk; uploads here must never touch the disk.

    The size of what is buffered is bounded by ``MAX_CONTENT_LENGTH``.
    """

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        return io.BytesIO()
