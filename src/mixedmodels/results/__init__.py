"""Stage 7 of the pipeline: results, printing and tidy frames."""
