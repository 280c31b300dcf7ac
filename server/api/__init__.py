"""The REST adapter (`/api/v1`): routes, request schemas and the OpenAPI document."""
