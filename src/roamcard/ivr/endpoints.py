"""Twilio voice webhooks. Each request is verified (X-Twilio-Signature) before anything else; each answer
is TwiML. Handlers: parse, one service call, return."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from roamcard.db import get_database
from roamcard.deps import SessionDep
from roamcard.ivr import service, signature
from roamcard.ivr.states import Step
from roamcard.ivr.twiml import TWIML_MEDIA_TYPE, Reply

router = APIRouter(prefix="/ivr", tags=["hotline (IVR)"], include_in_schema=True)

ERRORS: dict[int | str, dict[str, str]] = {403: {"description": "Missing or wrong X-Twilio-Signature"}}


async def twilio_params(request: Request) -> dict[str, str]:
    """The POST parameters, once their signature is proven."""
    form = await request.form()
    params = {key: value for key, value in form.multi_items() if isinstance(value, str)}
    signature.verify(
        request.url,
        params,
        request.headers.get("X-Twilio-Signature"),
        request.headers.get("X-Twilio-Webhooks-Signature-Settings"),
    )
    return params


TwilioParams = Annotated[dict[str, str], Depends(twilio_params)]


def _twiml(reply: Reply) -> Response:
    return Response(reply.xml(), media_type=TWIML_MEDIA_TYPE)


def _caller(params: dict[str, str]) -> str:
    """The caller's number, as the caller says it (recorded on the call; never used as an identity)."""
    return params.get("From") or params.get("CallSid", "unknown")


@router.post("/voice", response_class=Response, responses=ERRORS)
def voice(params: TwilioParams, session: SessionDep) -> Response:
    return _twiml(service.start(session, call_sid=params.get("CallSid", ""), caller=_caller(params)))


@router.post("/step/{step}", response_class=Response, responses=ERRORS)
def step(step: str, params: TwilioParams) -> Response:
    known = step if step in {s.value for s in Step} else None
    turn = service.Turn(
        call_sid=params.get("CallSid", ""),
        caller=_caller(params),
        step=Step(known) if known else None,
        digits=params.get("Digits"),
    )
    return _twiml(service.answer(get_database(), turn))


@router.post("/status", status_code=204, responses=ERRORS)
def status(params: TwilioParams, session: SessionDep) -> None:
    if params.get("CallStatus") in {"completed", "busy", "failed", "no-answer", "canceled"}:
        service.hang_up(session, params.get("CallSid", ""))
