"""How the bin talks to the cloud: the messages it composes and its MQTT connection."""
