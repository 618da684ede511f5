"""Pure code that knows nothing of Dagster: specs, schemas, data generation, modelling, drift, stores."""
