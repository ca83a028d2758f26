"""Where the bridge keeps what it knows: the storage contract and its back-ends."""
