"""The foundation's own tests: the harness that runs the program under mocks, and the checks."""
