"""Local Billwerk+ Optimize API server with generated data, for tests and demos."""
