"""``lifeboat demo``: a datacenter lost and recovered on the embedded sandbox (see ``story``)."""
