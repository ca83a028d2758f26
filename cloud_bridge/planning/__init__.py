"""Vehicle routes: a region's open pickups batched into routes."""
