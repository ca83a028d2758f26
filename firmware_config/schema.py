"""The device configuration schema of one bin.

Every section forbids unknown keys (a misspelt key is an error, not a silent default),
every number has bounds and every field a description, so ``bin-agent config validate``
can explain any mistake by its key path. Secrets never live in the file: the broker
password is read from the environment variable the file names, when it is needed.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

BIN_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{2,62}$"
REGION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
CATEGORIES = ("cardboard", "glass", "metal", "paper", "plastic", "trash")
Category = Literal["cardboard", "glass", "metal", "paper", "plastic", "trash"]
BcmPin = Annotated[int, Field(ge=0, le=27)]

_CLASSIFIER_TYPES: set[str] = {"onnx"}
"""Names ``classifier.type`` accepts: the built-in backends and those registered since.

``agent.classifier.registry.register_backend`` adds a plug-in's name here, so the
configuration accepts exactly the backends the agent can build (the schema cannot import
the registry: the registry imports the schema, and the backends' libraries are heavy).
"""


def register_classifier_type(name: str) -> None:
    """Let ``classifier.type`` name a newly registered backend."""
    _CLASSIFIER_TYPES.add(name)


def unregister_classifier_type(name: str) -> None:
    """Forget a backend name again (the registry's ``unregister_backend``)."""
    _CLASSIFIER_TYPES.discard(name)


def classifier_types() -> list[str]:
    """The names ``classifier.type`` accepts, sorted."""
    return sorted(_CLASSIFIER_TYPES)


class Section(BaseModel):
    """Base of every configuration section: strict keys, validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


class Location(Section):
    """Where the bin stands, for pickups and routes."""

    lat: float | None = Field(
        default=None, ge=-90.0, le=90.0, description="Latitude in degrees (WGS 84)."
    )
    lon: float | None = Field(
        default=None, ge=-180.0, le=180.0, description="Longitude in degrees (WGS 84)."
    )


class Identity(Section):
    """Who the bin is: its id is its MQTT client id and its certificate CN."""

    bin_id: Annotated[str, StringConstraints(pattern=BIN_ID_PATTERN)] = Field(
        description="Unique bin id, safe in topics and ACLs: ^[a-z0-9][a-z0-9-]{2,62}$."
    )
    region: Annotated[str, StringConstraints(pattern=REGION_PATTERN)] = Field(
        default="default", description="Logistics region; pickups are published per region."
    )
    location: Location = Field(default_factory=Location, description="Where the bin stands.")


class Hardware(Section):
    """Which hardware backend the agent drives."""

    backend: Literal["sim-device", "sim-pin", "rpi"] = Field(
        default="sim-device",
        description=(
            "'rpi' drives real pins (RPi.GPIO or rpi-lgpio) and picamera2; 'sim-pin' the "
            "pin-level simulator; 'sim-device' the device-level simulator."
        ),
    )
    flap: Literal["servo", "solenoid"] = Field(
        default="servo", description="How accepted items are dropped into the container."
    )
    ultrasonic_model: Literal["hc-sr04", "jsn-sr04t"] = Field(
        default="jsn-sr04t", description="Fill sensor type; sets its no-echo behaviour."
    )
    temperature_sensor: Literal["none", "ds18b20", "sim"] = Field(
        default="none", description="Container temperature sensor (speed of sound, fire)."
    )
    camera_index: int = Field(default=0, ge=0, le=7, description="picamera2 camera number.")


class Pins(Section):
    """BCM pin numbers of the reference wiring."""

    hx711_dout: BcmPin = Field(default=5, description="HX711 DOUT (data, input, pull-up).")
    hx711_sck: BcmPin = Field(default=6, description="HX711 PD_SCK (clock, output).")
    ultrasonic_trigger: BcmPin = Field(default=23, description="Ultrasonic TRIG (output).")
    ultrasonic_echo: BcmPin = Field(default=24, description="Ultrasonic ECHO (input, divided).")
    door_switch: BcmPin = Field(default=17, description="Door switch (input, low = closed).")
    ir_beam: BcmPin = Field(default=27, description="IR break-beam receiver (low = broken).")
    flap: BcmPin = Field(default=18, description="Flap servo PWM or solenoid driver.")
    lock: BcmPin = Field(default=22, description="Door lock solenoid driver (high = locked).")
    led_green: BcmPin = Field(default=12, description="Green LED (accepted).")
    led_amber: BcmPin = Field(default=16, description="Amber LED (full, locked).")
    led_red: BcmPin = Field(default=20, description="Red LED (rejected, fault).")
    buzzer: BcmPin = Field(default=21, description="Buzzer.")

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        seen: dict[int, str] = {}
        for name in type(self).model_fields:
            pin = getattr(self, name)
            if pin in seen:
                raise ValueError(f"pins.{name} and pins.{seen[pin]} both use BCM {pin}")
            seen[pin] = name
        return self


class Calibration(Section):
    """Calibration values; written back by ``bin-agent calibrate``."""

    tare_offset: int = Field(
        default=0, ge=-(2**23), le=2**23 - 1, description="HX711 raw reading with an empty tray."
    )
    scale_counts_per_g: float = Field(
        default=420.0,
        ge=1.0,
        le=100_000.0,
        description="HX711 raw counts per gram, from a known mass.",
    )
    empty_distance_mm: float = Field(
        default=1000.0,
        ge=100.0,
        le=6000.0,
        description="Distance from the fill sensor to the floor of the empty container.",
    )
    full_distance_mm: float = Field(
        default=250.0,
        ge=20.0,
        le=5000.0,
        description="Distance from the fill sensor to the contents when the container is full.",
    )
    tare_drift_limit_g: float = Field(
        default=50.0,
        ge=1.0,
        le=5000.0,
        description="Empty-tray weight beyond which the bin reports calibration drift.",
    )

    @model_validator(mode="after")
    def _full_above_empty(self) -> Self:
        if self.full_distance_mm >= self.empty_distance_mm:
            raise ValueError(
                "calibration.full_distance_mm must be less than calibration.empty_distance_mm"
            )
        return self


class LoadCell(Section):
    """How the tray load cell is read."""

    gain: Literal[128, 64, 32] = Field(
        default=128, description="HX711 gain: 128 or 64 on channel A, 32 on channel B."
    )
    samples: int = Field(default=5, ge=1, le=31, description="Readings per median-filtered value.")
    ready_timeout_ms: int = Field(
        default=500, ge=10, le=5000, description="Longest wait for the HX711 to become ready."
    )
    retries: int = Field(
        default=3, ge=0, le=10, description="Re-reads after a corrupt reading before failing."
    )
    outlier_g: float = Field(
        default=200.0,
        ge=1.0,
        le=10_000.0,
        description="Readings this far from the median are dropped.",
    )
    max_pulse_us: int = Field(
        default=50,
        ge=5,
        le=60,
        description="A clock pulse longer than this may have powered the HX711 down: re-read.",
    )


class Ultrasonic(Section):
    """How the fill sensor is pinged."""

    pings: int = Field(default=7, ge=1, le=15, description="Pings per fill measurement (median).")
    ping_interval_ms: int = Field(
        default=60, ge=60, le=1000, description="Pause between pings (>= 60 ms, echoes die out)."
    )
    blind_zone_mm: float = Field(
        default=230.0, ge=0.0, le=600.0, description="Closer echoes are not trusted."
    )
    max_range_mm: float = Field(
        default=4500.0, ge=200.0, le=8000.0, description="Farther echoes are not trusted."
    )
    echo_timeout_ms: int = Field(
        default=70, ge=5, le=200, description="Longest echo wait before a ping counts as lost."
    )
    min_valid: int = Field(
        default=3, ge=1, le=15, description="Valid pings needed for a usable measurement."
    )
    default_temp_c: float = Field(
        default=20.0, ge=-40.0, le=60.0, description="Air temperature assumed without a sensor."
    )

    @field_validator("min_valid")
    @classmethod
    def _reachable(cls, min_valid: int, info: ValidationInfo) -> int:
        pings = info.data.get("pings")
        if pings is not None and min_valid > pings:
            raise ValueError(
                f"ultrasonic.min_valid = {min_valid} is more than ultrasonic.pings = {pings}: "
                "no measurement could ever be valid"
            )
        return min_valid


class Thresholds(Section):
    """Levels at which the bin changes its behaviour."""

    lock_fill_pct: float = Field(
        default=95.0, ge=50.0, le=100.0, description="Fill at which the door locks (overflow)."
    )
    unlock_fill_pct: float = Field(
        default=85.0, ge=0.0, le=100.0, description="Fill below which a locked door unlocks."
    )
    fire_temp_c: float = Field(
        default=70.0, ge=40.0, le=150.0, description="Container temperature raising a fire alarm."
    )
    door_open_alarm_s: float = Field(
        default=120.0, ge=10.0, le=3600.0, description="Door open this long raises door_stuck."
    )
    report_fill_step_pct: float = Field(
        default=5.0,
        ge=0.5,
        le=100.0,
        description="A fill change this large since the last telemetry sends telemetry at once.",
    )
    empty_drop_pct: float = Field(
        default=30.0,
        ge=5.0,
        le=100.0,
        description="A fill drop this large (confirmed twice) means the bin was emptied.",
    )
    empty_below_pct: float = Field(
        default=25.0, ge=0.0, le=90.0, description="...and the fill must end below this."
    )
    empty_min_drop_pct: float = Field(
        default=10.0,
        ge=3.0,
        le=100.0,
        description="A smaller drop also means emptied when it is at least this large and "
        "leaves at most half of the fill (a bin emptied early, at 20 %).",
    )
    offline_fault_s: float = Field(
        default=300.0,
        ge=10.0,
        le=86_400.0,
        description="Disconnected this long raises a network fault (published on return).",
    )
    low_disk_mb: float = Field(
        default=200.0, ge=10.0, le=100_000.0, description="Free disk below this is a storage fault."
    )

    @model_validator(mode="after")
    def _hysteresis(self) -> Self:
        if self.unlock_fill_pct >= self.lock_fill_pct:
            raise ValueError("thresholds.unlock_fill_pct must be below thresholds.lock_fill_pct")
        return self


class WeightRange(Section):
    """Plausible single-item weights of one category, in grams."""

    min_g: float = Field(ge=0.0, le=50_000.0, description="Lightest plausible item.")
    max_g: float = Field(ge=0.0, le=50_000.0, description="Heaviest plausible item.")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.min_g > self.max_g:
            raise ValueError("min_g must not exceed max_g")
        return self


def _default_weight_ranges() -> dict[Category, WeightRange]:
    return {
        "cardboard": WeightRange(min_g=5, max_g=2000),
        "glass": WeightRange(min_g=80, max_g=2500),
        "metal": WeightRange(min_g=5, max_g=1500),
        "paper": WeightRange(min_g=1, max_g=1000),
        "plastic": WeightRange(min_g=2, max_g=1500),
        "trash": WeightRange(min_g=1, max_g=5000),
    }


def _default_accepted() -> list[Category]:
    return ["cardboard", "glass", "metal", "paper", "plastic"]


class Intake(Section):
    """The deposit policy: what the bin takes, and how quickly it decides."""

    accepted_categories: list[Category] = Field(
        default_factory=_default_accepted,
        description="Categories dropped into the container; others are handed back.",
    )
    min_confidence: float = Field(
        default=0.6, ge=0.0, le=1.0, description="Lower classifier confidence is rejected."
    )
    min_item_g: float = Field(
        default=2.0, ge=0.0, le=1000.0, description="Lighter trays count as empty."
    )
    max_item_g: float = Field(
        default=5000.0, ge=1.0, le=50_000.0, description="Heavier items are rejected."
    )
    capture_timeout_s: float = Field(
        default=1.0,
        ge=0.2,
        le=1.0,
        description=(
            "Longest wait for the camera's photo; a capture that times out classifies the "
            "item unknown. At most 1 s, so the decision still comes within 1.5 s of the "
            "door closing."
        ),
    )
    settle_samples: int = Field(
        default=1,
        ge=1,
        le=15,
        description=(
            "Load-cell conversions per reading while the weight settles (an HX711 at "
            "10 SPS takes 100 ms each); the settled weight is the median of the window."
        ),
    )
    settle_readings: int = Field(
        default=3, ge=2, le=20, description="Consecutive stable readings before classifying."
    )
    settle_tolerance_g: float = Field(
        default=3.0, ge=0.1, le=500.0, description="Spread allowed among stable readings."
    )
    settle_timeout_s: float = Field(
        default=3.0, ge=0.2, le=30.0, description="Weight still moving after this is a reject."
    )
    unknown_policy: Literal["reject", "accept"] = Field(
        default="reject", description="What happens to items the camera could not classify."
    )

    @model_validator(mode="after")
    def _known(self) -> Self:
        if len(set(self.accepted_categories)) != len(self.accepted_categories):
            raise ValueError("intake.accepted_categories lists a category twice")
        return self


class Classifier(Section):
    """Which deposit classifier runs and how its answer is checked against the weight."""

    type: str = Field(
        default="onnx",
        description=(
            "Classifier backend: a name registered in agent.classifier.registry "
            "(built in: 'onnx'); each type is a small plug-in class."
        ),
    )
    model: Path | None = Field(
        default=None, description="Model file; empty means the model shipped with the agent."
    )
    threads: int = Field(default=1, ge=1, le=8, description="Inference threads.")
    weight_check: bool = Field(
        default=True, description="Lower the confidence of categories implausible for the weight."
    )
    weight_ranges_g: dict[Category, WeightRange] = Field(
        default_factory=_default_weight_ranges,
        description="Plausible single-item weight per category, in grams.",
    )
    weight_margin: float = Field(
        default=0.25,
        ge=0.0,
        le=10.0,
        description=(
            "How far outside a range (as a fraction of the nearer bound) plausibility falls "
            "from 1 to weight_floor."
        ),
    )
    weight_floor: float = Field(
        default=0.05,
        ge=0.0,
        le=1.0,
        description="Plausibility factor of a weight far outside a category's range.",
    )

    @field_validator("type")
    @classmethod
    def _registered(cls, name: str) -> str:
        known = classifier_types()
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ValueError(
                f"classifier.type = {name!r} is not a registered backend "
                f"(registered: {', '.join(known)}){hint}"
            )
        return name


class Intervals(Section):
    """How often the agent measures and reports."""

    telemetry_s: float = Field(default=300.0, ge=1.0, le=86_400.0, description="Telemetry period.")
    health_s: float = Field(default=900.0, ge=5.0, le=86_400.0, description="Health period.")
    fill_sample_s: float = Field(
        default=60.0, ge=1.0, le=3600.0, description="Fill measurement period while idle."
    )
    door_poll_ms: int = Field(
        default=50, ge=5, le=1000, description="Door and beam poll period where edges are missed."
    )


class Tls(Section):
    """TLS to the broker with a private CA and a per-bin client certificate."""

    enabled: bool = Field(default=False, description="Connect with TLS.")
    ca_file: Path | None = Field(default=None, description="CA certificate (PEM).")
    cert_file: Path | None = Field(
        default=None, description="Client certificate (PEM), CN = bin_id."
    )
    key_file: Path | None = Field(default=None, description="Client private key (PEM).")

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.enabled and self.ca_file is None:
            raise ValueError("broker.tls.ca_file is required when broker.tls.enabled is true")
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("broker.tls.cert_file and broker.tls.key_file go together")
        return self


class Broker(Section):
    """The MQTT connection."""

    host: str = Field(default="127.0.0.1", min_length=1, description="Broker host name.")
    port: int = Field(default=1883, ge=1, le=65535, description="Broker port.")
    protocol: Literal["3.1.1", "5"] = Field(
        default="3.1.1", description="MQTT protocol version; the contract needs only 3.1.1."
    )
    keepalive_s: int = Field(default=30, ge=5, le=3600, description="MQTT keepalive.")
    topic_prefix: str = Field(
        default="bins/v1", pattern=r"^[A-Za-z0-9_/-]+$", description="Prefix of the bin topics."
    )
    username: str | None = Field(default=None, description="MQTT user name (optional).")
    password_env: str | None = Field(
        default=None,
        pattern=r"^[A-Z_][A-Z0-9_]*$",
        description="Name of the environment variable holding the MQTT password.",
    )
    backoff_min_s: float = Field(
        default=1.0, ge=0.05, le=60.0, description="First reconnect delay."
    )
    backoff_max_s: float = Field(
        default=120.0, ge=1.0, le=3600.0, description="Longest reconnect delay."
    )
    inflight: int = Field(
        default=20, ge=1, le=1000, description="Unacknowledged publishes in flight at once."
    )
    tls: Tls = Field(default_factory=Tls, description="TLS settings.")

    def password(self) -> str | None:
        """The MQTT password, read from the environment only when connecting."""
        if self.password_env is None:
            return None
        value = os.environ.get(self.password_env)
        if value is None:
            raise LookupError(f"broker.password_env names {self.password_env}, which is not set")
        return value


class Storage(Section):
    """Where the agent keeps its outbox and state, and how large they may grow."""

    path: Path = Field(
        default=Path("/var/lib/revloop/agent.db"), description="SQLite database of the agent."
    )
    max_rows: int = Field(
        default=100_000,
        ge=100,
        le=10_000_000,
        description="Outbox rows before telemetry is dropped.",
    )
    max_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=64 * 1024,
        le=16 * 1024**3,
        description="Outbox payload bytes before telemetry is dropped.",
    )


class Switches(Section):
    """How the door switch and IR beam are debounced."""

    door_debounce_ms: int = Field(
        default=20, ge=1, le=500, description="Door switch must be stable this long to count."
    )
    beam_debounce_ms: int = Field(
        default=10, ge=1, le=500, description="IR beam must be stable this long to count."
    )


class FlapDrive(Section):
    """How the flap is driven and how a jam is recognised."""

    servo_hz: int = Field(default=50, ge=40, le=400, description="Servo PWM frequency.")
    closed_pulse_us: int = Field(
        default=1000, ge=400, le=2600, description="Servo pulse width holding the flap closed."
    )
    open_pulse_us: int = Field(
        default=2000, ge=400, le=2600, description="Servo pulse width opening the flap."
    )
    open_ms: int = Field(
        default=600, ge=50, le=5000, description="How long the flap stays open per drop."
    )
    solenoid_pulse_ms: int = Field(
        default=300, ge=20, le=5000, description="Solenoid flap energised this long per drop."
    )
    clear_timeout_ms: int = Field(
        default=1000,
        ge=50,
        le=10_000,
        description="After a drop the beam must clear within this time, or the flap is jammed.",
    )

    @model_validator(mode="after")
    def _distinct_pulses(self) -> Self:
        if self.open_pulse_us == self.closed_pulse_us:
            raise ValueError("flap.open_pulse_us must differ from flap.closed_pulse_us")
        return self


class TemperatureProbe(Section):
    """Where the DS18B20 is read and how long a read may take."""

    w1_devices_dir: Path = Field(
        default=Path("/sys/bus/w1/devices"), description="1-wire sysfs directory of the probe."
    )
    read_timeout_ms: int = Field(
        default=1500, ge=100, le=10_000, description="Longest DS18B20 read before it counts failed."
    )


class CameraCheck(Section):
    """How captured frames are checked."""

    black_level: float = Field(
        default=8.0,
        ge=0.0,
        le=128.0,
        description="Frames whose mean brightness (0-255) is below this are black frames.",
    )


class SimulationFaults(Section):
    """Faults injected into the pin-level simulator at start (tests change them live)."""

    hx711: Literal["none", "stuck_high", "stuck_low", "floating", "saturated"] = Field(
        default="none",
        description=(
            "HX711 DOUT stuck high (never ready), stuck low, floating (picks up the clock: "
            "reads all ones) or a saturated reading (load cell wiring broken)."
        ),
    )
    ultrasonic: Literal["none", "no_echo", "echo_stuck", "blind_zone"] = Field(
        default="none",
        description="No echo, echo line stuck high, or a target inside the blind zone.",
    )
    camera: Literal["none", "absent", "timeout", "black_frame"] = Field(
        default="none", description="Camera missing, never delivering a frame, or black frames."
    )
    flap: Literal["none", "jammed"] = Field(default="none", description="Flap stuck closed.")
    door: Literal["none", "left_open"] = Field(
        default="none", description="Door held open whatever consumers do."
    )
    temperature: Literal["none", "absent", "crc_error", "power_on_reset"] = Field(
        default="none",
        description="DS18B20 missing, failing its CRC, or stuck at its 85 degC power-on value.",
    )
    gpio_stall_probability: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Chance that a GPIO call is pre-empted (an HX711 clock pulse too long).",
    )
    gpio_stall_us: float = Field(
        default=120.0, ge=1.0, le=100_000.0, description="How long a pre-empted GPIO call takes."
    )


class SimulationPins(Section):
    """The simulated circuit behind the pins of the pin-level simulator."""

    gpio_call_us: float = Field(
        default=1.0, ge=0.1, le=1000.0, description="Virtual time one GPIO call costs."
    )
    container_depth_mm: float | None = Field(
        default=None,
        ge=100.0,
        le=6000.0,
        description="True container depth; empty means calibration.empty_distance_mm.",
    )
    air_temp_c: float = Field(
        default=18.0, ge=-40.0, le=60.0, description="Air temperature in the container at start."
    )
    hx711_offset: int = Field(
        default=84_000, ge=-(2**22), le=2**22, description="True raw reading of the empty tray."
    )
    hx711_counts_per_g: float = Field(
        default=428.0, ge=1.0, le=10_000.0, description="True raw counts per gram at gain 128."
    )
    hx711_noise_counts: float = Field(
        default=60.0, ge=0.0, le=100_000.0, description="Standard deviation of HX711 noise."
    )
    hx711_drift_counts_per_c: float = Field(
        default=25.0,
        ge=-10_000.0,
        le=10_000.0,
        description="Offset drift per degree Celsius away from 20 degC.",
    )
    hx711_rate_sps: Literal[10, 80] = Field(
        default=10, description="HX711 output rate (RATE pin low: 10, high: 80)."
    )
    ultrasonic_noise_mm: float = Field(
        default=2.0, ge=0.0, le=200.0, description="Standard deviation of echo distance noise."
    )
    wall_echo_mm: float | None = Field(
        default=None,
        ge=20.0,
        le=8000.0,
        description="Distance of a side wall that sometimes answers first (wide beam).",
    )
    wall_echo_probability: float = Field(
        default=0.0, ge=0.0, le=1.0, description="Chance a ping hears the wall, not the contents."
    )
    switch_bounce_ms: float = Field(
        default=3.0, ge=0.0, le=100.0, description="How long a switch contact bounces."
    )


class Simulation(Section):
    """Settings of the simulated backends; ignored on real hardware."""

    seed: int = Field(default=1, ge=0, le=2**32 - 1, description="Seed of the simulated world.")
    images_dir: Path | None = Field(
        default=None,
        description="ImageFolder of photos the simulated camera serves (by category).",
    )
    container_volume_l: float = Field(
        default=240.0, ge=10.0, le=5000.0, description="Usable volume of the simulated container."
    )
    deposits_per_hour: float = Field(
        default=4.0, ge=0.0, le=600.0, description="Mean deposit rate at the busiest hour."
    )
    daily_rhythm: bool = Field(
        default=True,
        description="Visitors follow the hour of day and day of week; false: a constant rate.",
    )
    camera_capture_ms: float = Field(
        default=150.0,
        ge=0.0,
        le=5000.0,
        description="Bin time a simulated still capture takes (picamera2 on a Pi 4: ~100-200 ms).",
    )
    pins: SimulationPins = Field(
        default_factory=SimulationPins, description="The circuit behind the simulated pins."
    )
    faults: SimulationFaults = Field(
        default_factory=SimulationFaults, description="Faults injected at start."
    )


class DeviceConfig(Section):
    """The whole configuration of one bin, as loaded from its TOML file."""

    config_version: int = Field(
        default=0, ge=0, le=2**63 - 1, description="Version of the applied remote configuration."
    )
    identity: Identity = Field(description="Who and where the bin is.")
    hardware: Hardware = Field(default_factory=Hardware, description="Hardware backend.")
    pins: Pins = Field(default_factory=Pins, description="BCM pin numbers.")
    calibration: Calibration = Field(default_factory=Calibration, description="Calibration.")
    loadcell: LoadCell = Field(default_factory=LoadCell, description="Tray load cell.")
    ultrasonic: Ultrasonic = Field(default_factory=Ultrasonic, description="Fill sensor.")
    thresholds: Thresholds = Field(default_factory=Thresholds, description="Thresholds.")
    intake: Intake = Field(default_factory=Intake, description="Deposit policy.")
    classifier: Classifier = Field(default_factory=Classifier, description="Classifier.")
    intervals: Intervals = Field(default_factory=Intervals, description="Periods.")
    broker: Broker = Field(default_factory=Broker, description="MQTT connection.")
    storage: Storage = Field(default_factory=Storage, description="Local storage.")
    switches: Switches = Field(default_factory=Switches, description="Door and beam inputs.")
    flap: FlapDrive = Field(default_factory=FlapDrive, description="Flap drive.")
    temperature: TemperatureProbe = Field(
        default_factory=TemperatureProbe, description="DS18B20 probe."
    )
    camera: CameraCheck = Field(default_factory=CameraCheck, description="Camera checks.")
    simulation: Simulation = Field(default_factory=Simulation, description="Simulated world.")
