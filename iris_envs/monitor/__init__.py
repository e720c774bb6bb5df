"""Stage: IRIS metrics during a run (sampling, host pressure, ^SystemPerformance); imports the
engine, config and instance stages only."""
