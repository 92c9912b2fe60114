"""The console's screens: runs (home), launch, run monitor, promotion and comparison."""
