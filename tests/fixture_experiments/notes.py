"""A module without Config and run: not an experiment, so `approx list` leaves it out."""
TEXT = "notes"
