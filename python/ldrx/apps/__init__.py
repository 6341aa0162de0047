"""Applications built on fitted models: ASE calculator, Li-intercalation voltages."""
