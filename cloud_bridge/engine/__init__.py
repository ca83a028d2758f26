"""The single writer: a batch of received messages turned into stored facts in one transaction."""
