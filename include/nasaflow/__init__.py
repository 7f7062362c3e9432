"""nasaflow: NASA image streams to queryable texture parameters."""
