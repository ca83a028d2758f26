"""The pin-level simulator: an RPi.GPIO look-alike on a virtual clock, wired to models
of the bin's circuit (HX711, ultrasonic sensor, switches, flap, lock, LEDs)."""
