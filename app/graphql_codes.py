"""The `extensions.code` of GraphQL errors that are not a resolver's (Apollo's names)."""

PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
# Depth, alias and token limits: the operation may be fine, but is too big to be run here.
LIMIT_EXCEEDED = "QUERY_LIMIT_EXCEEDED"
OPERATION_RESOLUTION_FAILURE = "OPERATION_RESOLUTION_FAILURE"
BAD_USER_INPUT = "BAD_USER_INPUT"
# The request ran past REQUEST_TIME_BUDGET_SECONDS and was stopped (HTTP 503).
TIME_BUDGET_EXCEEDED = "TIME_BUDGET_EXCEEDED"
# An API key went over its requests per minute, API_KEY_RATE_LIMIT (HTTP 429).
RATE_LIMITED = "RATE_LIMITED"
