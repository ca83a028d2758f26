"""Remote commands: send one to a bin, then read (or wait for) its outcome."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema

from cloud_bridge.api.context import TooManyWaits
from cloud_bridge.api.deps import CommandsReader, CommandsSender, Context, Reader
from cloud_bridge.api.openapi import JSON_VALUE_REF
from cloud_bridge.api.params import BIN_ID, COMMAND_ID, LimitParam, check_limit, field_error
from cloud_bridge.api.responses import errors
from cloud_bridge.api.schemas import CommandStatus, RemoteCommand, SentCommand
from cloud_bridge.api.strict_json import StrictJsonRoute
from cloud_bridge.config.commands import ttl_problem
from cloud_bridge.views.rows import command_row, offline_warning
from protocol import CommandName
from protocol.messages import MAX_INT, JsonObject

router = APIRouter(tags=["commands"], responses=errors(401, 403, 422), route_class=StrictJsonRoute)

MAX_WAIT_S = 30.0
"""Longest a request may wait for a command's answer (the CLI asks again if need be)."""


def _integral_in_int64(args: dict[str, Any]) -> dict[str, Any]:
    """Refuse an integral number beyond 64 bits written as a float (``1e20``): JSON Schema
    counts it as an integer, so the document's int64 range covers it too."""

    def check(value: Any, path: str) -> None:
        if isinstance(value, float) and value.is_integer() and abs(value) > MAX_INT:
            raise ValueError(f"{path} is outside the 64-bit integer range")
        if isinstance(value, dict):
            for key, item in value.items():
                check(item, f"{path}.{key}" if path else str(key))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                check(item, f"{path}[{index}]")

    check(args, "")
    return args


class CommandBody(BaseModel):
    """A command for a bin."""

    model_config = ConfigDict(extra="forbid")
    name: CommandName = Field(description="ping, selftest, tare, lock, unlock, capture, restart.")
    args: Annotated[
        JsonObject,
        AfterValidator(_integral_in_int64),
        WithJsonSchema({"type": "object", "additionalProperties": {"$ref": JSON_VALUE_REF}}),
    ] = Field(
        default_factory=dict,
        description="The command's arguments: JSON numbers must be finite and integers "
        "fit in 64 bits, from -(2^63-1) to 2^63-1, at any depth.",
    )
    ttl_s: float | None = Field(
        default=None,
        allow_inf_nan=False,
        description="Lifetime in seconds: the bin refuses it after issued_at + ttl_s "
        "(default commands.default_ttl_s; from 1 to commands.max_ttl_s, the bounds this "
        "document states).",
    )


@router.post(
    "/v1/bins/{bin_id}/commands",
    status_code=201,
    response_model=SentCommand,
    summary="Send a command to a bin",
    responses=errors(404, 503),
)
def send(
    who: CommandsSender,
    ctx: Context,
    bin_id: Annotated[str, Path(pattern=BIN_ID, description="The bin's id.")],
    body: CommandBody,
) -> dict[str, Any]:
    """Store the command and publish it on ``bins/v1/{bin_id}/cmd`` (QoS 1); ``pending``
    until the bin answers or it times out. ``bin_online`` false and a ``warning`` say at
    once that the bin is offline, and how long the command will wait for it."""
    if body.ttl_s is not None:
        problem = ttl_problem(body.ttl_s, ctx.settings.commands.max_ttl_s)
        if problem is not None:
            raise field_error("body", "ttl_s", problem, body.ttl_s)
    record = ctx.actions.send_command(bin_id, body.name, body.args, body.ttl_s, who.name)
    target = ctx.readers.get().get_bin(bin_id)  # this worker thread's read connection
    grace = ctx.settings.commands.result_grace_s
    warning = offline_warning(target, record, grace)
    return {**command_row(record), "bin_online": warning is None, "warning": warning}


@router.get("/v1/commands", response_model=list[RemoteCommand], summary="Commands, newest first")
async def list_commands(
    _: CommandsReader,
    store: Reader,
    request: Request,
    bin_id: Annotated[str | None, Query(pattern=BIN_ID)] = None,
    status: CommandStatus | None = None,
    limit: LimitParam = None,
) -> list[dict[str, Any]]:
    """Commands sent through the bridge and where they stand."""
    limit = check_limit(request, limit)
    return [command_row(c) for c in store.list_commands(bin_id=bin_id, status=status, limit=limit)]


@router.get(
    "/v1/commands/{command_id}",
    response_model=RemoteCommand,
    summary="One command (optionally waiting for it)",
    responses=errors(404, 429),
)
async def get_command(
    who: CommandsReader,
    ctx: Context,
    store: Reader,
    command_id: Annotated[str, Path(pattern=COMMAND_ID, description="The command's id.")],
    wait: Annotated[
        float,
        Query(
            ge=0.0,
            le=MAX_WAIT_S,
            description="Seconds to wait while it is pending (a token may hold at most "
            "api.max_waits_per_token such waits at once; one more is a 429).",
        ),
    ] = 0.0,
) -> dict[str, Any]:
    """The command and the bin's answer; with ``wait``, answers as soon as it is settled.

    Waiting holds no thread: the handler runs on the event loop and awaits the bridge's
    notice that the command was settled (sent from its writer thread with
    ``call_soon_threadsafe``), so long polls never starve the routes that need a thread.
    """
    record = store.get_command(command_id)
    if record is None:
        raise HTTPException(status_code=404, detail=f"no command {command_id!r}")
    if record.status != "pending" or wait <= 0:
        return command_row(record)
    loop = asyncio.get_running_loop()
    settled = asyncio.Event()

    def notify() -> None:  # on the bridge's writer thread, or the one stopping the API
        with contextlib.suppress(RuntimeError):  # the API's loop has closed meanwhile
            loop.call_soon_threadsafe(settled.set)

    try:
        give_back = ctx.waits.take(who.name, ctx.settings.api.max_waits_per_token, notify)
    except TooManyWaits as err:
        raise HTTPException(status_code=429, detail=str(err)) from None
    try:
        stop = ctx.actions.watch_command(command_id, notify)
        try:
            record = store.get_command(command_id) or record  # settled before watching?
            if record.status == "pending":
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await settled.wait()
                record = store.get_command(command_id) or record
        finally:
            stop()
    finally:
        give_back()
    return command_row(record)
