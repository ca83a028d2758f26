"""Hardware abstraction: pin, camera and clock interfaces and their real backends."""
