"""Request bodies of the REST API and the Socket.IO commands, validated with pydantic (strict types).

The same models feed the OpenAPI document.
"""
from __future__ import annotations

from typing import Annotated, Literal

from layso.server.api.guard import refuse_bad_text
from layso.server.errors import BadRequest
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)

Short = Annotated[StrictStr, Field(max_length=100)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class IssueBody(Body):
    field: Annotated[StrictStr, Field(min_length=1, max_length=40)]
    priority: Annotated[StrictStr, Field(max_length=40)] | None = None
    channel: Literal["kiosk", "staff", "online"] | None = None
    request_id: Annotated[StrictStr, Field(min_length=1, max_length=100)] | None = None


class CompleteBody(Body):
    dossier_code: Annotated[StrictStr, Field(max_length=64)] | None = None


class PauseBody(Body):
    reason: Annotated[StrictStr, Field(max_length=200)] | None = None


CounterNumber = Annotated[StrictInt, Field(ge=1, le=9999)]


class TransferBody(Body):
    field: Annotated[StrictStr, Field(min_length=1, max_length=40)] | None = None
    counter: CounterNumber | None = None

    @model_validator(mode="after")
    def _one(self) -> "TransferBody":
        if (self.field is None) == (self.counter is None):
            raise ValueError("give exactly one of field or counter")
        return self


class RatingBody(Body):
    score: StrictInt
    reasons: Annotated[list[Short], Field(max_length=10)] | None = None
    comment: Annotated[StrictStr, Field(max_length=1000)] | None = None


class DeviceStatusBody(Body):
    printer: Literal["ok", "paper_out", "cover_open", "offline"] | None = None
    detail: Annotated[StrictStr, Field(max_length=300)] | None = None


class ReprintOutcomeBody(Body):
    # the description is given, not taken from a docstring: the server runs without docstrings
    # (PYTHONOPTIMIZE=2, docs/PERFORMANCE.md) and the OpenAPI document must not change with it
    model_config = ConfigDict(json_schema_extra={
        "description": "What a kiosk says after a reprint: did it come out of the printer, and if not, why."})
    printed: StrictBool
    printer: Literal["ok", "paper_out", "cover_open", "offline"] | None = None
    detail: Annotated[StrictStr, Field(max_length=300)] | None = None


class CallNumberBody(Body):
    number: Annotated[StrictStr, Field(min_length=1, max_length=12)]


class PriorityBody(Body):
    category: Annotated[StrictStr, Field(min_length=1, max_length=40)]
    reason: Annotated[StrictStr, Field(max_length=200)] | None = None


class SessionBody(Body):
    username: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    password: Annotated[StrictStr, Field(min_length=1, max_length=200)]
    counter: CounterNumber | None = None


class PinSignInBody(Body):
    username: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    pin: Annotated[StrictStr, Field(min_length=4, max_length=12)]


class TickerBody(Body):
    ticker: Annotated[StrictStr, Field(max_length=500)]


class Empty(Body):
    pass


def parse(model: type[Body], data) -> Body:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object", "malformed_body")
    refuse_bad_text(data)  # also for Socket.IO commands, which pass no HTTP edge
    try:
        return model.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "body"
        raise BadRequest(f"{loc}: {first['msg']}", "invalid_body", field=loc) from None
