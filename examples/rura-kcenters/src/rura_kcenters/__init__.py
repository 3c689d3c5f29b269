"""rura-kcenters: an example third-party rura plugin registering the ``kcenters`` clusterer."""
