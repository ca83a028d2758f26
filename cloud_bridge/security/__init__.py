"""A deployment's private CA, certificates and Mosquitto TLS and ACL configuration."""
