"""JSON responses rendered by orjson.

Routes with a response model are serialised by pydantic already (FastAPI's own fast path, which a
`default_response_class` would switch off); this is for the bodies we hand over as plain dicts: stored
idempotent answers, webhook acknowledgements, problem+json. For str keys, ints, bools, None, str (UTF-8,
not escaped), lists and dicts orjson writes the same bytes as Starlette's `json.dumps(ensure_ascii=False,
separators=(",", ":"))`.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import JSONResponse


class OrjsonResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)
