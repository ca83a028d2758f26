"""What the bin remembers across restarts about its container and its alarms."""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

STATE_KEY = "bin_state"
"""Key of the state in the agent database's key-value table."""


class StateStore(Protocol):
    """Where the state is kept: the agent database's key-value table
    (:class:`agent.storage.localdb.LocalDb`), named here so the model needs no SQL."""

    def get(self, key: str, default: Any = None) -> Any:
        """The JSON value stored under ``key``, or ``default``."""
        ...

    def put_many(self, values: dict[str, Any], *, durable: bool = True) -> None:
        """Store values in one transaction; ``durable=False`` may lose it to a power cut."""
        ...


class JammedDeposit(BaseModel):
    """The deposit whose item a jammed flap holds on the tray."""

    model_config = ConfigDict(extra="ignore")

    deposit_id: str
    category: str
    weight_g: float


class BinState(BaseModel):
    """Container contents, last fill measurement and active alarms and faults.

    Persisted as one JSON value in the agent database whenever it changes, so a
    restart (or power loss) neither resets the deposit count nor re-raises alarms.
    """

    model_config = ConfigDict(extra="ignore", validate_assignment=False)

    deposits_since_empty: int = 0
    contents_g: float = 0.0
    fill_pct: float | None = None
    fill_mm: float | None = None
    fill_peak_pct: float = 0.0
    temp_c: float | None = None
    empty_candidate: bool = False
    active_alarms: dict[str, str | None] = Field(default_factory=dict)
    lock_reasons: list[str] = Field(default_factory=list)
    """Why the intake door is locked (overflow, flap_jammed, remote); empty: unlocked."""
    active_faults: dict[str, str | None] = Field(default_factory=dict)
    """``component/code`` -> detail of every fault currently raised."""
    jammed_deposit: JammedDeposit | None = None
    """The item waiting on the tray behind a jammed flap; counted into the contents once
    the flap is seen working again (its deposit event was sent at the jam)."""

    @classmethod
    def load(cls, db: StateStore) -> BinState:
        """The stored state, or a fresh one for a new bin."""
        raw = db.get(STATE_KEY)
        return cls.model_validate(raw) if isinstance(raw, dict) else cls()

    def dump(self) -> dict[str, object]:
        """The JSON value stored under ``bin_state``."""
        return self.model_dump(mode="json")

    def save(self, db: StateStore, *, durable: bool = True) -> None:
        """Store the state; ``durable=False`` for measurements that are taken again anyway."""
        db.put_many({STATE_KEY: self.dump()}, durable=durable)
