"""What the compound is called: its name and its gates' and cameras' display names."""
