"""Optimisers and solvers shared by the model families."""
