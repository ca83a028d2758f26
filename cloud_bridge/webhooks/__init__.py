"""Webhook delivery: signed POSTs from the persistent queue."""
