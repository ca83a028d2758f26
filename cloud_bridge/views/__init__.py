"""Read models shared by the API and the CLI: JSON rows and CSV exports of what the store holds."""
