"""People: trajectories and stays, the person page's overview, visitors by id, reference photos
and uploaded photos."""
