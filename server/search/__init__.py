"""Search: a search for a missing person, its orders to the edges, the sightings that answer it."""
