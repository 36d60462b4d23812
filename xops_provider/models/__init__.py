"""Graph data as the domain reads it: full-precision timestamps and lenient incident models."""
