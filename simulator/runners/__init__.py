"""What runs simulated bins: the event loop, the fleet, one bin, the demo and an embedded broker."""
