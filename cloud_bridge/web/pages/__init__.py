"""The dashboard's pages beyond the fleet, one module per page, each with its router."""
