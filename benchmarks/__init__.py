"""Performance measurements. Each prints figures (with a baseline measured in the same run); none asserts."""
