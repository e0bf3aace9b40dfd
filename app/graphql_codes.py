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
# Persisted queries (app/persisted_queries.py): Apollo's code for an unknown hash (its
# clients then send the query) and for APQ turned off (they stop using it); Apollo Router's
# for an operation the allow-list does not hold; ours for a hash that is not the query's.
PERSISTED_QUERY_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
PERSISTED_QUERY_HASH_MISMATCH = "PERSISTED_QUERY_HASH_MISMATCH"
PERSISTED_QUERY_NOT_SUPPORTED = "PERSISTED_QUERY_NOT_SUPPORTED"
PERSISTED_QUERY_NOT_IN_LIST = "PERSISTED_QUERY_NOT_IN_LIST"
# HTTP-level refusals named after their status: a mutation sent over GET (405, with
# Allow: POST), a request whose Accept takes none of our JSON types (406), a malformed one.
METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
NOT_ACCEPTABLE = "NOT_ACCEPTABLE"
BAD_REQUEST = "BAD_REQUEST"
