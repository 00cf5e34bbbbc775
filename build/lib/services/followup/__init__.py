"""followup: support targets, trials, efficacy and safety data, deadlines, social implementation."""
