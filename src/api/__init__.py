"""HTTP helpers shared by the API views: reading inputs, JSON answers, the proxy middleware."""
