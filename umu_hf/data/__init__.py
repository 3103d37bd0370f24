"""UMU-Bench data: schema, legacy converter, synthetic generator, Hub writer, loading, collators."""
