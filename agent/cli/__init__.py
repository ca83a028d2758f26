"""``bin-agent``: the bin's command line, for the service, technicians and the model."""
