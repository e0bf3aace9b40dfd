"""The daily automation (SPEC 9): its settings, its steps and the record of each run."""
