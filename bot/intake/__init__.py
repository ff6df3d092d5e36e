"""Survey intake: the normalised response, storing it once, and the CSV import."""
